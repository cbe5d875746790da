//! `tollgate-bench`: the open-loop load generator (issue 6). Not built yet; the criterion
//! micro-benchmarks of the hot path live in `node/benches/`.
fn main() {
    eprintln!("tollgate-bench is not implemented yet (see issue 6); run `cargo bench -p tollgate-node` for the hot-path micro-benchmarks");
    std::process::exit(2);
}
