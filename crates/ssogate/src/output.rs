//! Everything the command prints for people and scripts goes through here: control
//! characters are escaped, so a display name or claim cannot move the cursor, retitle
//! the terminal or rewrite earlier lines; a closed pipe (`ssogate user list | head -1`)
//! ends the command quietly instead of panicking.

use std::borrow::Cow;
use std::io::Write;

/// `text` with every control character but newline and tab shown as `\u{…}` escapes.
pub(crate) fn escaped(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\t' {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Writes to standard output; a reader that went away ends the program with success.
pub(crate) fn write(text: &str) {
    let mut out = std::io::stdout().lock();
    let done = out
        .write_all(escaped(text).as_bytes())
        .and_then(|()| out.flush());
    if let Err(e) = done {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Nothing sensible to print to; say it where it may still be seen.
        eprintln!("ssogate: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// A line for a long-running command (`serve`, `demo`): escaped like the rest, but a
/// closed standard output must not stop a server.
pub(crate) fn notice(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", escaped(text)).and_then(|()| out.flush());
}

/// `println!` for the command's output (see the module).
macro_rules! outln {
    () => {
        $crate::output::write("\n")
    };
    ($($arg:tt)*) => {
        $crate::output::write(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for the command's output (see the module).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(&format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_shown_not_obeyed() {
        assert_eq!(escaped("plain\tname\n"), "plain\tname\n");
        assert_eq!(
            escaped("Eve\u{1b}]0;pwned\u{7}\r"),
            "Eve\\u{1b}]0;pwned\\u{7}\\u{d}"
        );
        assert_eq!(escaped("c1\u{9b}31m"), "c1\\u{9b}31m");
    }
}
