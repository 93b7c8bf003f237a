//! The HTTP server scenario table against plain hyper + Tower (no framework), unchanged.

use towerlight_tests::hyper_harness::HyperHarness;

towerlight_tests::scenario_tests!(HyperHarness);
