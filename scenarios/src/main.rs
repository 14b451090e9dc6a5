//! `intune-mock`: parse the command line, run the subcommand, exit with its code.

/// jemalloc rather than glibc's malloc, whose slow paths (`_int_malloc`, `malloc_consolidate`)
/// took a quarter of a long scenario's time once it held a few hundred MB (BENCHMARKS.md,
/// "Virtual time"). Built unprefixed, it is `malloc` for the C libraries too (SQLite, OpenSSL).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    intune_mock_scenarios::cli::main()
}
