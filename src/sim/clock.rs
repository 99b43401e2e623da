//! Simulated time: the simulator's own clock, running `speed` times faster
//! than the wall clock, so a 30-second call can take 300 ms in a test.
//!
//! Every duration inside the simulator (ring times, prompts, timeouts,
//! heartbeats) is simulated time; only [`SimClock::sleep`] converts to real
//! time. Timestamps start at the wall clock's "now" when the clock is made.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// A clock shared by everything in one simulator.
#[derive(Debug, Clone)]
pub struct SimClock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    speed: f64,
    real_start: Instant,
    epoch_start_micros: u64,
}

impl SimClock {
    /// A clock running `speed` times real time (1.0 = real time), starting
    /// now. Speeds that are not finite and positive are treated as 1.0.
    pub fn new(speed: f64) -> SimClock {
        SimClock::starting_at(speed, SystemTime::now())
    }

    /// A clock running `speed` times real time whose simulated time starts
    /// at `start` (a fixed start makes timestamps, and everything that
    /// depends on the clock's second boundaries, reproducible).
    pub fn starting_at(speed: f64, start: SystemTime) -> SimClock {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        let epoch_start_micros = start
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        SimClock {
            inner: Arc::new(Inner {
                speed,
                real_start: Instant::now(),
                epoch_start_micros,
            }),
        }
    }

    /// How many times faster than real time the clock runs.
    pub fn speed(&self) -> f64 {
        self.inner.speed
    }

    /// Simulated time since the clock was made.
    pub fn elapsed(&self) -> Duration {
        self.inner.real_start.elapsed().mul_f64(self.inner.speed)
    }

    /// Simulated "now" in microseconds since the Unix epoch.
    pub fn now_micros(&self) -> u64 {
        self.inner.epoch_start_micros + self.elapsed().as_micros() as u64
    }

    /// The real time that `simulated` takes on this clock.
    pub fn to_real(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.inner.speed)
    }

    /// Waits `simulated` time.
    pub async fn sleep(&self, simulated: Duration) {
        tokio::time::sleep(self.to_real(simulated)).await;
    }

    /// The real instant at which `simulated` time from now will have passed.
    pub fn deadline(&self, simulated: Duration) -> Instant {
        Instant::now() + self.to_real(simulated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn simulated_time_runs_speed_times_faster() {
        let clock = SimClock::new(100.0);
        let start = clock.now_micros();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(clock.elapsed(), Duration::from_secs(30));
        assert_eq!(clock.now_micros() - start, 30_000_000);
    }

    #[tokio::test(start_paused = true)]
    async fn sleeping_converts_to_real_time() {
        let clock = SimClock::new(50.0);
        let real = Instant::now();
        clock.sleep(Duration::from_secs(10)).await;
        assert_eq!(real.elapsed(), Duration::from_millis(200));
    }

    #[test]
    fn a_clock_can_start_at_a_given_time() {
        let start = UNIX_EPOCH + Duration::from_micros(1_795_925_780_243_870);
        let clock = SimClock::starting_at(10.0, start);
        let now = clock.now_micros();
        assert!((1_795_925_780_243_870..1_795_925_790_243_870).contains(&now));
    }

    #[test]
    fn nonsense_speeds_fall_back_to_real_time() {
        assert_eq!(SimClock::new(0.0).speed(), 1.0);
        assert_eq!(SimClock::new(f64::NAN).speed(), 1.0);
        assert_eq!(SimClock::new(-3.0).speed(), 1.0);
    }
}
