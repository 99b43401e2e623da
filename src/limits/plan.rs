//! Plans as configured, by name, and which merchant is on which.

use std::collections::BTreeMap;

use crate::config::{LimitsConfig, PlanConfig};

/// A plan: its name and its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Its name in the configuration.
    pub name: String,
    /// Its limits.
    pub config: PlanConfig,
}

/// Every plan, and the assignment of merchants to plans.
#[derive(Debug, Clone)]
pub struct Plans {
    plans: BTreeMap<String, Plan>,
    default: Plan,
    assigned: BTreeMap<String, String>,
}

impl Plans {
    /// The plans of a validated `limits:` section (an unknown default
    /// plan falls back to the built-in defaults).
    pub fn new(config: &LimitsConfig) -> Plans {
        let plans: BTreeMap<String, Plan> = config
            .plans
            .iter()
            .map(|(name, plan)| {
                let plan = Plan {
                    name: name.clone(),
                    config: plan.clone(),
                };
                (name.clone(), plan)
            })
            .collect();
        let default = plans.get(&config.default_plan).cloned().unwrap_or(Plan {
            name: config.default_plan.clone(),
            config: PlanConfig::default(),
        });
        Plans {
            plans,
            default,
            assigned: config.merchants.clone(),
        }
    }

    /// The plan of the merchant named `merchant`.
    pub fn of(&self, merchant: &str) -> &Plan {
        self.assigned
            .get(merchant)
            .and_then(|name| self.plans.get(name))
            .unwrap_or(&self.default)
    }

    /// Every plan (the default one included).
    pub fn all(&self) -> impl Iterator<Item = &Plan> {
        self.plans
            .values()
            .chain((!self.plans.contains_key(&self.default.name)).then_some(&self.default))
    }
}
