//! `tollgate-chaos`: fault injection against a live cluster (issue 7). Not built yet: it needs
//! the Raft cluster (issue 4) first.
fn main() {
    eprintln!(
        "tollgate-chaos is not implemented yet (see issue 7; it needs the cluster of issue 4)"
    );
    std::process::exit(2);
}
