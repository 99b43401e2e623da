//! Which node takes the next call: the one with the most room, weighed.

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
    /// Free channels times weight; `None` when the node takes no call.
    fn score(&self) -> Option<u64> {
        let free = self.max.checked_sub(self.live).filter(|free| *free > 0)?;
        self.eligible
            .then(|| u64::from(free) * u64::from(self.weight.max(1)))
    }
}

/// The index of the node with the most weighted headroom (free channels
/// times weight), or `None` if none may take a call. Ties go to the first
/// from `start` on, so that equal nodes take turns.
pub fn choose(candidates: &[Candidate], start: usize) -> Option<usize> {
    let count = candidates.len();
    let mut best: Option<(usize, u64)> = None;
    for step in 0..count {
        let index = (start + step) % count;
        if let Some(score) = candidates[index].score()
            && best.is_none_or(|(_, top)| score > top)
        {
            best = Some((index, score));
        }
    }
    best.map(|(index, _)| index)
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

    #[test]
    fn the_node_with_most_room_wins() {
        assert_eq!(choose(&[node(5, 10, 1), node(2, 10, 1)], 0), Some(1));
        assert_eq!(choose(&[node(5, 100, 1), node(0, 10, 1)], 0), Some(0));
    }

    #[test]
    fn weight_multiplies_room() {
        assert_eq!(choose(&[node(0, 10, 1), node(4, 10, 2)], 0), Some(1));
        assert_eq!(choose(&[node(0, 10, 1), node(6, 10, 2)], 0), Some(0));
    }

    #[test]
    fn full_or_ineligible_nodes_take_nothing() {
        let mut drained = node(0, 10, 1);
        drained.eligible = false;
        assert_eq!(choose(&[node(10, 10, 1), drained], 0), None);
        assert_eq!(
            choose(&[node(10, 10, 1), drained, node(9, 10, 1)], 0),
            Some(2)
        );
        assert_eq!(choose(&[], 3), None);
    }

    #[test]
    fn equal_nodes_take_turns() {
        let nodes = [node(1, 10, 1), node(1, 10, 1), node(1, 10, 1)];
        let picked: Vec<_> = (0..3).map(|start| choose(&nodes, start)).collect();
        assert_eq!(picked, [Some(0), Some(1), Some(2)]);
    }

    proptest! {
        #[test]
        fn the_choice_is_eligible_and_never_beaten(
            nodes in proptest::collection::vec(
                (0u32..20, 1u32..20, 1u32..5, any::<bool>()), 0..8),
            start in 0usize..8,
        ) {
            let candidates: Vec<Candidate> = nodes
                .iter()
                .map(|&(live, max, weight, eligible)| Candidate { live, max, weight, eligible })
                .collect();
            match choose(&candidates, start) {
                Some(index) => {
                    let chosen = candidates[index];
                    prop_assert!(chosen.eligible && chosen.live < chosen.max);
                    let score = chosen.score();
                    prop_assert!(candidates.iter().all(|c| c.score() <= score));
                }
                None => prop_assert!(candidates.iter().all(|c| c.score().is_none())),
            }
        }
    }
}
