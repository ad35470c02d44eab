//! Placeholder until its issue lands; see README.md in this folder.

fn main() {
    eprintln!("wiber-consumer is not built yet");
    std::process::exit(1);
}
