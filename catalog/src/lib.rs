//! tiaokuai catalog
