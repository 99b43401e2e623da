//! Running on a schema a newer arsgate migrated: a rollback, or an older
//! replica still running during a rolling upgrade.
//!
//! refinery on its own stops an older binary at the first migration it
//! does not know (`migration V7__… is missing from the filesystem`), even
//! one that only added a table. Most migrations only add (a table, a
//! nullable column, an index), and the older binary's statements still
//! work on them; a few change what the older binary relies on (a column
//! renamed, a uniqueness widened), and running on those would corrupt data
//! or fail mid-call. So a migration that older binaries cannot run on says
//! so, in the database itself, in the same transaction as its change:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS arsgate_schema_compat (
//!     version INTEGER PRIMARY KEY,
//!     oldest_compatible INTEGER NOT NULL,
//!     reason TEXT NOT NULL
//! );
//! INSERT INTO arsgate_schema_compat (version, oldest_compatible, reason)
//! VALUES (9, 9, 'verifications.phone split into country and number');
//! ```
//!
//! `oldest_compatible` is the oldest schema a binary may know (its newest
//! migration) and still run on this one. A binary that finds migrations
//! newer than its own runs on them unless one of them declares a
//! `oldest_compatible` past its newest migration; then it refuses to
//! start, naming each such migration and its reason. A migration that
//! declares nothing is additive. The statements above are valid SQL on
//! both SQLite and PostgreSQL.
//!
//! The check runs before refinery's, on the migrations the database has
//! recorded: when nothing newer is there, refinery runs as before (and
//! still refuses histories that diverge from the binary's).

use refinery::Migration;

/// The table in which a migration that older binaries cannot run on says
/// so (see the module documentation).
pub const COMPAT_TABLE: &str = "arsgate_schema_compat";

/// The statement that reads [`COMPAT_TABLE`] (the same on both databases).
pub(crate) const READ_DECLARATIONS: &str =
    "SELECT version, oldest_compatible, reason FROM arsgate_schema_compat";

/// A newer migration's word on which binaries may run on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Declaration {
    /// The migration that declares it.
    pub version: i64,
    /// The oldest newest-migration a binary may have and run on it.
    pub oldest_compatible: i64,
    /// What changed, for the operator who reads the refusal.
    pub reason: String,
}

/// What opening the store does with the migrations.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// The database is not ahead of this binary: refinery applies what is
    /// missing (and checks the history as usual).
    Migrate,
    /// The database is ahead of this binary, by the migrations named
    /// (`V7__name`), none of which declares this binary incompatible:
    /// nothing is applied, the store runs on the newer schema.
    RunOnNewer(Vec<String>),
}

/// Decides whether a binary with migrations `known` may open a database
/// that recorded `applied` and `declared`; the error says why not.
pub(crate) fn plan(
    known: &[Migration],
    applied: &[Migration],
    declared: &[Declaration],
) -> Result<Plan, String> {
    let newest_known = known.iter().map(Migration::version).max().unwrap_or(0);
    let newer: Vec<&Migration> = applied
        .iter()
        .filter(|m| m.version() > newest_known)
        .collect();
    if newer.is_empty() {
        return Ok(Plan::Migrate);
    }
    let name = |m: &Migration| format!("V{}__{}", m.version(), m.name());
    let newest = newer.last().map(|m| name(m)).unwrap_or_default();
    // A newer binary applied everything this one knows, as this one knows
    // it; anything else is a history that diverged, not an upgrade.
    for migration in known {
        match applied.iter().find(|a| a.version() == migration.version()) {
            Some(found) if found == migration => {}
            Some(found) => {
                return Err(format!(
                    "the database is at {newest}, newer than this arsgate, but its {} differs \
                     from this arsgate's {}: the schema's history diverged",
                    name(found),
                    name(migration)
                ));
            }
            None => {
                return Err(format!(
                    "the database is at {newest}, newer than this arsgate, but lacks this \
                     arsgate's {}: the schema's history diverged",
                    name(migration)
                ));
            }
        }
    }
    if let Some(stranger) = applied
        .iter()
        .find(|a| a.version() <= newest_known && !known.iter().any(|k| k.version() == a.version()))
    {
        return Err(format!(
            "the database has {}, which this arsgate does not know though it is older than \
             this arsgate's newest migration: the schema's history diverged",
            name(stranger)
        ));
    }
    let refusals: Vec<String> = newer
        .iter()
        .filter_map(|m| {
            let declared = declared
                .iter()
                .find(|d| d.version == i64::from(m.version()))?;
            (declared.oldest_compatible > i64::from(newest_known)).then(|| {
                format!(
                    "{} needs an arsgate that knows V{} or later ({})",
                    name(m),
                    declared.oldest_compatible,
                    declared.reason
                )
            })
        })
        .collect();
    if !refusals.is_empty() {
        return Err(format!(
            "the database schema is newer than this arsgate (which knows up to V{newest_known}) \
             and incompatible with it: {}; run a newer arsgate",
            refusals.join("; ")
        ));
    }
    Ok(Plan::RunOnNewer(newer.iter().map(|m| name(m)).collect()))
}

/// Logs that the store runs on a schema newer than this binary's.
pub(crate) fn log_newer(migrations: &[String]) {
    tracing::warn!(
        newer = %migrations.join(","),
        "the database schema is newer than this arsgate (a rollback or a rolling upgrade); \
         its newer migrations declare nothing incompatible, so it runs on them"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(version: u32, name: &str, sql: &str) -> Migration {
        Migration::unapplied(&format!("V{version}__{name}"), sql).expect("a valid name")
    }

    fn known() -> Vec<Migration> {
        vec![
            migration(1, "initial", "CREATE TABLE a (x INTEGER);"),
            migration(2, "more", "CREATE TABLE b (x INTEGER);"),
        ]
    }

    fn declared(version: i64, oldest_compatible: i64) -> Declaration {
        Declaration {
            version,
            oldest_compatible,
            reason: "b.x renamed to b.y".to_owned(),
        }
    }

    #[test]
    fn a_database_not_ahead_is_left_to_refinery() {
        assert_eq!(plan(&known(), &[], &[]), Ok(Plan::Migrate));
        assert_eq!(plan(&known(), &known()[..1], &[]), Ok(Plan::Migrate));
        assert_eq!(plan(&known(), &known(), &[]), Ok(Plan::Migrate));
    }

    #[test]
    fn newer_migrations_that_declare_nothing_are_run_on() {
        let mut applied = known();
        applied.push(migration(3, "extra_table", "CREATE TABLE c (x INTEGER);"));
        applied.push(migration(4, "extra_index", "CREATE INDEX c_x ON c (x);"));
        assert_eq!(
            plan(&known(), &applied, &[declared(4, 2)]),
            Ok(Plan::RunOnNewer(vec![
                "V3__extra_table".to_owned(),
                "V4__extra_index".to_owned()
            ]))
        );
    }

    #[test]
    fn a_newer_migration_that_declares_this_binary_too_old_is_refused_by_name() {
        let mut applied = known();
        applied.push(migration(3, "extra_table", "CREATE TABLE c (x INTEGER);"));
        applied.push(migration(4, "rename", "ALTER TABLE b RENAME x TO y;"));
        let refused = plan(&known(), &applied, &[declared(4, 4)]).unwrap_err();
        assert!(
            refused.contains("V4__rename needs an arsgate that knows V4 or later")
                && refused.contains("b.x renamed to b.y")
                && refused.contains("knows up to V2")
                && !refused.contains("V3__"),
            "{refused}"
        );
    }

    #[test]
    fn a_diverged_history_is_refused_even_when_newer() {
        let mut changed = known();
        changed[1] = migration(2, "more", "CREATE TABLE b (x TEXT);");
        changed.push(migration(3, "extra_table", "CREATE TABLE c (x INTEGER);"));
        let refused = plan(&known(), &changed, &[]).unwrap_err();
        assert!(refused.contains("V2__more differs"), "{refused}");

        let lacking = vec![
            known()[0].clone(),
            migration(3, "extra_table", "CREATE TABLE c (x INTEGER);"),
        ];
        let refused = plan(&known(), &lacking, &[]).unwrap_err();
        assert!(
            refused.contains("lacks this arsgate's V2__more"),
            "{refused}"
        );
    }
}
