//! `[discovery]`: the Cloud Map private DNS namespace the services find each other in.

use serde::Deserialize;
use toml::Spanned;

use super::Checker;
use crate::model::Discovery;

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscovery {
    namespace: Option<Spanned<String>>,
}

/// Whether `name` is a DNS name Route 53 takes for a private zone: dot-separated labels of
/// lowercase letters, digits and inner hyphens, each 1 to 63 long, at most 253 in all, and
/// at least two labels.
fn is_dns_name(name: &str) -> bool {
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    name.len() <= 253 && name.split('.').count() >= 2 && name.split('.').all(label)
}

/// The namespace: the environment's file, else `shared.toml`, else `{env}.{project}.internal`.
pub(super) fn discovery(
    c: &mut Checker<'_>,
    env: RawDiscovery,
    shared: RawDiscovery,
    name: &str,
    project: Option<&str>,
) -> Option<Discovery> {
    match c.pick_optional(env.namespace, shared.namespace) {
        Some(namespace) if is_dns_name(&namespace.value) => Some(Discovery { namespace: namespace.value }),
        Some(namespace) => {
            c.fail(
                &namespace.at,
                format!("`{}` is not a DNS name a private namespace can have", namespace.value),
                "use lowercase labels of letters, digits and hyphens, such as `dev.payments.internal`",
            );
            None
        }
        None => {
            let project = project?;
            let namespace = format!("{name}.{project}.internal");
            // A project name is checked on its own; one that makes a bad DNS name is not
            // reported twice, but the namespace must then be set.
            is_dns_name(&namespace).then_some(Discovery { namespace })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_dns_name;

    #[test]
    fn dns_names_have_two_labels_or_more_of_the_allowed_characters() {
        assert!(is_dns_name("dev.paystack.internal"));
        assert!(is_dns_name("a-1.b"));
        for bad in ["internal", "Dev.paystack.internal", "dev..internal", "-dev.internal", "dev_1.internal", ""] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }
}
