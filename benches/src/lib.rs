//! towerlight-benches
