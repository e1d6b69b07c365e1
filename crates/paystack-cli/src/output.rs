//! Writing to stdout and stderr without panicking when the reader has gone
//! (`paystack plan | head -3`): what cannot be written is dropped, and the run goes on to its
//! end and its exit code. An apply never stops half way because nobody reads its output.

use std::io::Write;

pub(crate) fn stdout(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(args);
}

pub(crate) fn stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `print!`, without the panic on a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!($($arg)*)) };
}

/// `println!`, without the panic on a closed stdout.
macro_rules! outln {
    () => { $crate::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!`, without the panic on a closed stderr.
macro_rules! diagln {
    () => { $crate::output::stderr(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!`, without the panic on a closed stderr.
macro_rules! diag {
    ($($arg:tt)*) => { $crate::output::stderr(format_args!($($arg)*)) };
}
