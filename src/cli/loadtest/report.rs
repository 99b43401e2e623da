//! What a run measured, as a table.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::LoadtestArgs;
use super::offer::Sent;
use super::processes::Usage;
use super::watch::Calls;

/// The figures of one run.
pub struct Report {
    store: &'static str,
    nodes: u32,
    offered: usize,
    rate: u32,
    accepted: usize,
    /// Requests not accepted, by HTTP status (0: no answer).
    refused: BTreeMap<u16, usize>,
    api: Percentiles,
    to_originate: Percentiles,
    originated: usize,
    setup_rate: f64,
    peak_calls: usize,
    all_ended: bool,
    cpu_per_call_ms: f64,
    peak_rss: u64,
}

/// The 50th and 99th percentiles and the largest of some durations.
#[derive(Debug, Clone, Copy, Default)]
struct Percentiles {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Percentiles {
    fn of(mut values: Vec<Duration>) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            values[rank - 1]
        };
        Percentiles {
            p50: at(0.50),
            p99: at(0.99),
            max: values[values.len() - 1],
        }
    }
}

impl Report {
    /// Puts the run's observations together: `store` names the store,
    /// `originated` pairs each placed call's id with when its request was
    /// sent.
    pub fn new(
        args: &LoadtestArgs,
        store: &'static str,
        sent: &[Sent],
        originated: &[(String, u64)],
        calls: &Calls,
        usage: Usage,
        all_ended: bool,
    ) -> Report {
        let accepted = sent.iter().filter(|s| s.id.is_some()).count();
        let mut refused = BTreeMap::new();
        for s in sent.iter().filter(|s| s.id.is_none()) {
            *refused.entry(s.status).or_insert(0) += 1;
        }
        let api = Percentiles::of(sent.iter().map(|s| s.latency).collect());
        let mut arrivals = Vec::new();
        let mut delays = Vec::new();
        for (call, sent_micros) in originated {
            if let Some(&created) = calls.created.get(call) {
                arrivals.push(created);
                delays.push(Duration::from_micros(created.saturating_sub(*sent_micros)));
            }
        }
        let first_sent = sent.iter().map(|s| s.sent_micros).min().unwrap_or(0);
        let last_arrival = arrivals.iter().copied().max().unwrap_or(first_sent);
        let span = Duration::from_micros(last_arrival.saturating_sub(first_sent));
        let setup_rate = if span.is_zero() {
            0.0
        } else {
            arrivals.len() as f64 / span.as_secs_f64()
        };
        Report {
            store,
            nodes: args.nodes,
            offered: sent.len(),
            rate: args.rate,
            accepted,
            refused,
            api,
            to_originate: Percentiles::of(delays),
            originated: arrivals.len(),
            setup_rate,
            peak_calls: calls.peak,
            all_ended,
            cpu_per_call_ms: if accepted == 0 {
                0.0
            } else {
                usage.cpu_seconds * 1000.0 / accepted as f64
            },
            peak_rss: usage.peak_rss,
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "store                      {}", self.store)?;
        writeln!(f, "nodes                      {}", self.nodes)?;
        writeln!(
            f,
            "offered                    {} at {}/s",
            self.offered, self.rate
        )?;
        writeln!(f, "accepted (201)             {}", self.accepted)?;
        let refused: usize = self.refused.values().sum();
        write!(f, "refused or failed          {refused}")?;
        for (status, count) in &self.refused {
            match status {
                0 => write!(f, "  (no answer: {count})")?,
                status => write!(f, "  ({status}: {count})")?,
            }
        }
        writeln!(f)?;
        writeln!(f, "calls reaching a node      {}", self.originated)?;
        writeln!(f, "call setups per second     {:.0}", self.setup_rate)?;
        writeln!(
            f,
            "API latency                p50 {}  p99 {}  max {}",
            ms(self.api.p50),
            ms(self.api.p99),
            ms(self.api.max)
        )?;
        writeln!(
            f,
            "request to originate       p50 {}  p99 {}  max {}",
            ms(self.to_originate.p50),
            ms(self.to_originate.p99),
            ms(self.to_originate.max)
        )?;
        writeln!(f, "most calls up at once      {}", self.peak_calls)?;
        writeln!(
            f,
            "every call ended           {}",
            if self.all_ended {
                "yes"
            } else {
                "no (drain limit reached)"
            }
        )?;
        writeln!(
            f,
            "server CPU per call        {:.3} ms",
            self.cpu_per_call_ms
        )?;
        writeln!(
            f,
            "server peak RSS            {:.1} MiB",
            self.peak_rss as f64 / (1024.0 * 1024.0)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        let p = Percentiles::of(values);
        assert_eq!(p.p50, Duration::from_millis(100));
        assert_eq!(p.p99, Duration::from_millis(198));
        assert_eq!(p.max, Duration::from_millis(200));
        let one = Percentiles::of(vec![Duration::from_millis(7)]);
        assert_eq!(
            (one.p50, one.p99),
            (Duration::from_millis(7), Duration::from_millis(7))
        );
        assert_eq!(Percentiles::of(Vec::new()).max, Duration::ZERO);
    }
}
