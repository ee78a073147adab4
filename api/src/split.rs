//! Splitting one plan over several runners.
