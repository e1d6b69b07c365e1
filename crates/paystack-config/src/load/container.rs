//! How a service's container runs (`[services.NAME]` `user` and `writable_paths`): never
//! as root, and writing only to the directories it names.

use super::{Checker, Located};

/// The user a container runs as where the configuration names none: not root, whatever
/// the image says; a numeric id needs no entry in the image's `/etc/passwd`.
const DEFAULT_CONTAINER_USER: &str = "1000";

/// The user a service's container runs as: `NAME`, `UID` or `UID:GID`, never root.
pub(super) fn check_user(c: &mut Checker<'_>, service: &str, user: Option<Located<String>>) -> Option<String> {
    let Some(user) = user else { return Some(DEFAULT_CONTAINER_USER.to_owned()) };
    let who = user.value.split(':').next().unwrap_or_default();
    if user.value.is_empty() || user.value.contains(char::is_whitespace) || user.value.split(':').count() > 2 {
        c.fail(
            &user.at,
            format!("`services.{service}.user` = \"{}\" is not a user", user.value),
            "write a user name, a UID, or UID:GID, such as \"101\" or \"1000:1000\"",
        );
        return None;
    }
    if who == "root" || who.parse::<u32>() == Ok(0) {
        c.fail(
            &user.at,
            format!("`services.{service}.user` runs the container as root"),
            "name the image's unprivileged user (nginx-unprivileged runs as 101, distroless as 65532)",
        );
        return None;
    }
    Some(user.value)
}

/// The paths a service's image writes to: absolute, distinct, and never the root itself.
pub(super) fn check_writable_paths(
    c: &mut Checker<'_>,
    service: &str,
    paths: Option<Located<Vec<String>>>,
) -> Option<Vec<String>> {
    let Some(paths) = paths else { return Some(Vec::new()) };
    let mut seen = std::collections::BTreeSet::new();
    for path in &paths.value {
        let bad = !path.starts_with('/')
            || path == "/"
            || path.ends_with('/')
            || path.split('/').any(|part| part == ".." || part == ".")
            || path.contains("//")
            || path.contains(char::is_whitespace);
        if bad || !seen.insert(path.as_str()) {
            let why = if bad { "is not an absolute directory path" } else { "is listed twice" };
            c.fail(
                &paths.at,
                format!("`services.{service}.writable_paths`: \"{path}\" {why}"),
                "list each directory the image writes to once, such as [\"/tmp\", \"/var/cache/nginx\"]",
            );
            return None;
        }
    }
    Some(paths.value)
}
