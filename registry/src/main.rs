//! `registry`: the provincial registry binary. Thin: everything is in the library ([`registry::cli`]).

fn main() -> std::process::ExitCode {
    registry::cli::main()
}
