//! Configuration: the YAML file, environment overrides and secrets.
