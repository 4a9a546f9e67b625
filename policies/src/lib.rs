//! tiaokuai policies
