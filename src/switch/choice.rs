//! Which node takes the next call: among the nodes with room, each in
//! proportion to its weight (smooth weighted round-robin, as nginx spreads
//! upstreams: weights 2:1 give 2/3 and 1/3 of the calls at any load, in
//! an interleaved order, not in runs).

/// What the choice knows of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Calls arsgate follows on the node now.
    pub live: u32,
    /// The most it may carry.
    pub max: u32,
    /// Its share relative to the others.
    pub weight: u32,
    /// Whether it may take calls at all: connected, healthy, not draining,
    /// not over its calls-per-second, not already tried for this call.
    pub eligible: bool,
}

impl Candidate {
    /// Whether the node may take the next call.
    pub fn is_open(&self) -> bool {
        self.eligible && self.live < self.max
    }
}

/// The running state of the smooth weighted round-robin over one set of
/// nodes (by index).
#[derive(Debug, Clone, Default)]
pub struct Rotation {
    current: Vec<i64>,
}

impl Rotation {
    /// The index of the node that takes the next call, or `None` if none
    /// may: every open node gains its weight, the one ahead takes the call
    /// and gives back the total of the open nodes' weights. Ties go to the
    /// first. A node that is not open keeps its place.
    pub fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
        if self.current.len() != candidates.len() {
            self.current = vec![0; candidates.len()];
        }
        let mut total = 0;
        let mut best: Option<usize> = None;
        for (index, candidate) in candidates.iter().enumerate() {
            if !candidate.is_open() {
                continue;
            }
            let weight = i64::from(candidate.weight.max(1));
            self.current[index] += weight;
            total += weight;
            if best.is_none_or(|top| self.current[index] > self.current[top]) {
                best = Some(index);
            }
        }
        let chosen = best?;
        self.current[chosen] -= total;
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn node(live: u32, max: u32, weight: u32) -> Candidate {
        Candidate {
            live,
            max,
            weight,
            eligible: true,
        }
    }

    fn picks(rotation: &mut Rotation, nodes: &[Candidate], n: usize) -> Vec<usize> {
        (0..n).filter_map(|_| rotation.pick(nodes)).collect()
    }

    #[test]
    fn weights_are_shares_interleaved() {
        let nodes = [node(0, 100, 2), node(0, 100, 1)];
        let mut rotation = Rotation::default();
        assert_eq!(picks(&mut rotation, &nodes, 6), [0, 1, 0, 0, 1, 0]);
        let counts = picks(&mut rotation, &nodes, 300)
            .iter()
            .fold([0; 2], |mut c, &i| {
                c[i] += 1;
                c
            });
        assert_eq!(counts, [200, 100]);
    }

    #[test]
    fn load_does_not_change_the_shares() {
        // A busier node with room gets its share all the same.
        let nodes = [node(90, 100, 1), node(0, 100, 1)];
        let mut rotation = Rotation::default();
        assert_eq!(picks(&mut rotation, &nodes, 4), [0, 1, 0, 1]);
    }

    #[test]
    fn full_or_ineligible_nodes_take_nothing() {
        let mut drained = node(0, 10, 1);
        drained.eligible = false;
        let mut rotation = Rotation::default();
        assert_eq!(rotation.pick(&[node(10, 10, 1), drained]), None);
        assert_eq!(
            picks(
                &mut rotation,
                &[node(10, 10, 1), drained, node(9, 10, 1)],
                3
            ),
            [2, 2, 2]
        );
        assert_eq!(rotation.pick(&[]), None);
    }

    #[test]
    fn equal_nodes_take_turns() {
        let nodes = [node(1, 10, 1), node(1, 10, 1), node(1, 10, 1)];
        assert_eq!(
            picks(&mut Rotation::default(), &nodes, 6),
            [0, 1, 2, 0, 1, 2]
        );
    }

    proptest! {
        #[test]
        fn every_round_gives_each_open_node_its_weight(
            nodes in proptest::collection::vec((1u32..6, any::<bool>()), 1..6),
            rounds in 1usize..5,
        ) {
            let candidates: Vec<Candidate> = nodes
                .iter()
                .map(|&(weight, eligible)| Candidate { live: 0, max: 1000, weight, eligible })
                .collect();
            let total: u32 = candidates.iter().filter(|c| c.eligible).map(|c| c.weight).sum();
            let mut rotation = Rotation::default();
            let mut counts = vec![0u32; candidates.len()];
            for _ in 0..(total as usize * rounds) {
                let chosen = rotation.pick(&candidates).expect("an open node");
                prop_assert!(candidates[chosen].eligible);
                counts[chosen] += 1;
            }
            for (candidate, count) in candidates.iter().zip(&counts) {
                let want = if candidate.eligible { candidate.weight * rounds as u32 } else { 0 };
                prop_assert_eq!(*count, want);
            }
            if total == 0 {
                prop_assert_eq!(rotation.pick(&candidates), None);
            }
        }
    }
}
