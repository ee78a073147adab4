//! The Glass Cannon operator.
