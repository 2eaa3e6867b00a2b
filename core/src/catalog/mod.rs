//! Service catalog (事项, 一件事一次办 bundles), offline search, one-time checklist (一次性告知).
