//! IP routing tables over the ordered face (feature `ip`). Work in progress.
