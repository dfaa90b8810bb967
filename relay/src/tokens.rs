//! The tokens file: which `hello.token`s open a session.
//!
//! One token per line; surrounding whitespace, blank lines and lines
//! starting with `#` are ignored. Every token must be a valid signaling
//! token (RFC 6750 `b64token`, at most 1024 bytes), so a typo is caught at
//! start-up rather than as a node that can never log in.

use std::fmt;
use std::path::{Path, PathBuf};

use echostream_core::wire::signal::Token;

/// Tokens read from a file, in file order, duplicates removed.
///
/// # Errors
/// The file cannot be read, a line is not a valid token, or the file holds
/// no token at all; the error names the file and, for a bad token, the
/// line.
pub fn load_tokens(path: &Path) -> Result<Vec<String>, TokenFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| TokenFileError {
        path: path.to_owned(),
        problem: Problem::Unreadable(error.to_string()),
    })?;
    parse_tokens(&text).map_err(|problem| TokenFileError {
        path: path.to_owned(),
        problem,
    })
}

fn parse_tokens(text: &str) -> Result<Vec<String>, Problem> {
    let mut tokens: Vec<String> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if Token::new(line).is_err() {
            return Err(Problem::InvalidToken { line: index + 1 });
        }
        if !tokens.iter().any(|t| t == line) {
            tokens.push(line.to_owned());
        }
    }
    if tokens.is_empty() {
        return Err(Problem::Empty {
            lines: text.lines().count(),
        });
    }
    Ok(tokens)
}

/// Why a tokens file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFileError {
    /// The file.
    pub path: PathBuf,
    problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Unreadable(String),
    InvalidToken { line: usize },
    Empty { lines: usize },
}

impl TokenFileError {
    /// The 1-based line of the refused token, if a token was refused.
    pub fn line(&self) -> Option<usize> {
        match self.problem {
            Problem::InvalidToken { line } => Some(line),
            Problem::Unreadable(_) | Problem::Empty { .. } => None,
        }
    }
}

impl fmt::Display for TokenFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.problem {
            Problem::Unreadable(error) => write!(f, "tokens file {path}: cannot read it: {error}"),
            Problem::InvalidToken { line } => write!(
                f,
                "tokens file {path} line {line}: not a valid token (1 to 1024 of \
                 A-Z a-z 0-9 - . _ ~ + /, then optional '=' padding)"
            ),
            Problem::Empty { lines } => write!(
                f,
                "tokens file {path}: no token in its {lines} line(s) \
                 (one token per line; blank lines and # comments are ignored)"
            ),
        }
    }
}

impl std::error::Error for TokenFileError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blank_lines_and_whitespace_are_ignored() {
        let text = "# station tokens\n\n  alpha-1  \n#beta\nbravo_2==\nalpha-1\n";
        assert_eq!(parse_tokens(text).unwrap(), vec!["alpha-1", "bravo_2=="]);
    }

    #[test]
    fn a_bad_token_is_named_by_line() {
        let problem = parse_tokens("good\n\nbad token\n").unwrap_err();
        assert_eq!(problem, Problem::InvalidToken { line: 3 });
    }

    #[test]
    fn a_file_without_tokens_is_refused() {
        assert_eq!(
            parse_tokens("# nothing\n\n").unwrap_err(),
            Problem::Empty { lines: 2 }
        );
        assert_eq!(parse_tokens("").unwrap_err(), Problem::Empty { lines: 0 });
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.txt");
        std::fs::write(&path, "ok\n\"quoted\"\n").unwrap();
        let error = load_tokens(&path).unwrap_err();
        assert_eq!(error.line(), Some(2));
        let text = error.to_string();
        assert!(text.contains("tokens.txt line 2"), "{text}");
        let missing = load_tokens(&dir.path().join("missing")).unwrap_err();
        assert!(missing.to_string().contains("missing: cannot read it"));
    }
}
