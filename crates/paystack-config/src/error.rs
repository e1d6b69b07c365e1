//! Configuration errors that point at a file, a line and a column.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// Where in which file a value was written.
#[derive(Clone, Debug)]
pub struct Location {
    pub file: PathBuf,
    /// The whole text of the file, so a renderer can show the offending line.
    pub source: Arc<str>,
    /// Byte range of the value inside `source`.
    pub span: Range<usize>,
}

impl Location {
    /// 1-based line and column of the start of the span.
    pub fn line_col(&self) -> (usize, usize) {
        let before = &self.source[..self.span.start.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
        (line, col)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, col) = self.line_col();
        write!(f, "{}:{line}:{col}", self.file.display())
    }
}

#[derive(Clone, Debug)]
pub struct ConfigError {
    pub message: String,
    /// Where the bad value is; `None` for errors about command-line input.
    pub location: Option<Location>,
    /// What to do about it.
    pub help: Option<String>,
    /// A second place that takes part in the error, such as the other side of an overlap.
    pub related: Option<(String, Location)>,
}

impl ConfigError {
    pub fn at(location: Location, message: impl Into<String>) -> Self {
        Self { message: message.into(), location: Some(location), help: None, related: None }
    }

    pub fn unlocated(message: impl Into<String>) -> Self {
        Self { message: message.into(), location: None, help: None, related: None }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, label: impl Into<String>, location: Location) -> Self {
        self.related = Some((label.into(), location));
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some((label, location)) = &self.related {
            write!(f, " ({label} at {location})")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every error found in one pass, so the user can fix them all at once.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
