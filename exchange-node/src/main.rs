//! `exchange-node`: the county node binary. Thin: everything is in the library ([`exchange_node::cli`]).

fn main() -> std::process::ExitCode {
    exchange_node::cli::main()
}
