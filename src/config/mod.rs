//! Hot-reloadable config store (feature `config`). Work in progress.
