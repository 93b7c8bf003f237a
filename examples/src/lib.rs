//! towerlight-examples
