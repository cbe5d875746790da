//! AWS Signature Version 4: verifying signed admin calls and signing requests (tests, tools).
//! (Being written: see the interface below.)
