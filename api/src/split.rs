//! Splitting one plan over several runners (processes or pods) so that their
//! shares add up exactly to what the user asked for.

use crate::plan::LoadPlan;

/// Part `index` (0-based) of `total` split into `parts`: shares differ by at
/// most one and the first `total % parts` shares get the extra unit.
/// Returns 0 when `parts` is 0 or `index` is out of range.
pub fn share(total: u64, parts: u32, index: u32) -> u64 {
    if parts == 0 || index >= parts {
        return 0;
    }
    let parts = u64::from(parts);
    let index = u64::from(index);
    total / parts + u64::from(index < total % parts)
}

/// Split a plan into `parts` plans: connections, rate and every stage target
/// are shared out exactly; everything else, threads included, stays as given.
/// Reached through [`LoadPlan::validate_for`], which checks first that every
/// share is runnable: nothing is clamped here.
pub(crate) fn split(plan: &LoadPlan, parts: u32) -> Vec<LoadPlan> {
    (0..parts)
        .map(|i| {
            let mut p = plan.clone();
            // Fits: a share of a u32 total is at most that total.
            p.connections = share(u64::from(plan.connections), parts, i) as u32;
            // With stages the rate is only the starting point, and zero is a fine one.
            p.rate = plan
                .rate
                .map(|r| share(r, parts, i))
                .filter(|&r| r > 0 || plan.stages.is_empty());
            for stage in &mut p.stages {
                stage.target = share(stage.target, parts, i);
            }
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::HumanDuration;
    use crate::plan::Stage;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn shares_spread_the_remainder_over_the_first_parts() {
        let s: Vec<u64> = (0..4).map(|i| share(10, 4, i)).collect();
        assert_eq!(s, vec![3, 3, 2, 2]);
        assert_eq!(share(10, 0, 0), 0);
        assert_eq!(share(10, 4, 4), 0);
        assert_eq!(share(u64::MAX, 1, 0), u64::MAX);
    }

    #[test]
    fn splits_connections_rate_and_stages_and_keeps_threads() {
        let plan = LoadPlan {
            connections: 10,
            threads: 3,
            rate: Some(1001),
            stages: vec![Stage {
                duration: HumanDuration(Duration::from_secs(5)),
                target: 7,
            }],
            ..LoadPlan::default()
        };
        let parts = split(&plan, 3);
        let conns: Vec<u32> = parts.iter().map(|p| p.connections).collect();
        assert_eq!(conns, vec![4, 3, 3]);
        assert_eq!(
            parts.iter().map(|p| p.threads).collect::<Vec<_>>(),
            vec![3, 3, 3]
        );
        let rates: Vec<u64> = parts.iter().map(|p| p.rate.unwrap()).collect();
        assert_eq!(rates, vec![334, 334, 333]);
        let targets: Vec<u64> = parts.iter().map(|p| p.stages[0].target).collect();
        assert_eq!(targets, vec![3, 2, 2]);
        assert!(parts.iter().all(|p| p.duration == plan.duration));
    }

    proptest! {
        #[test]
        fn shares_sum_to_the_total_and_differ_by_at_most_one(total in any::<u64>(), parts in 1u32..500) {
            let s: Vec<u64> = (0..parts).map(|i| share(total, parts, i)).collect();
            let sum: u128 = s.iter().map(|&x| u128::from(x)).sum();
            prop_assert_eq!(sum, u128::from(total));
            prop_assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
        }

        #[test]
        fn split_plans_add_up(
            connections in 1u32..20_000,
            threads in 1u32..64,
            rate in proptest::option::of(1u64..10_000_000),
            targets in prop::collection::vec(0u64..1_000_000, 0..4),
            parts in 1u32..64,
        ) {
            prop_assume!(connections >= parts * threads);
            prop_assume!(rate.is_none_or(|r| r >= u64::from(parts)));
            let plan = LoadPlan {
                connections,
                threads,
                rate,
                stages: targets.iter().map(|&t| Stage { duration: HumanDuration(Duration::from_secs(1)), target: t }).collect(),
                ..LoadPlan::default()
            };
            let ps = split(&plan, parts);
            prop_assert_eq!(ps.len(), parts as usize);
            let conns: Vec<u32> = ps.iter().map(|p| p.connections).collect();
            prop_assert_eq!(conns.iter().map(|&c| u64::from(c)).sum::<u64>(), u64::from(connections));
            prop_assert!(conns.iter().max().unwrap() - conns.iter().min().unwrap() <= 1);
            for p in &ps {
                prop_assert!(p.threads == threads && p.threads <= p.connections);
            }
            if let Some(r) = rate {
                prop_assert_eq!(ps.iter().map(|p| p.rate.unwrap_or(0)).sum::<u64>(), r);
            }
            for (k, &t) in targets.iter().enumerate() {
                let s: Vec<u64> = ps.iter().map(|p| p.stages[k].target).collect();
                prop_assert_eq!(s.iter().sum::<u64>(), t);
                prop_assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
            }
        }
    }
}
