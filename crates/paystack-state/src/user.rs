//! Who runs this process, for lock records: the login name, found without `USER` in the
//! environment too (cron jobs and containers often have none).

/// The login name of this process's user: `USER` or `LOGNAME`, else the name `/etc/passwd`
/// gives the process's real user id, else `uid N`.
pub fn current() -> String {
    find(
        |v| std::env::var(v).ok(),
        std::fs::read_to_string("/proc/self/status").ok().as_deref(),
        || std::fs::read_to_string("/etc/passwd").ok(),
    )
}

/// [`current`] from its sources: the environment, `/proc/self/status` and `/etc/passwd`.
fn find(var: impl Fn(&str) -> Option<String>, status: Option<&str>, passwd: impl FnOnce() -> Option<String>) -> String {
    if let Some(name) = ["USER", "LOGNAME"].iter().find_map(|v| var(v).filter(|n| !n.is_empty())) {
        return name;
    }
    let Some(uid) = status.and_then(real_uid) else {
        return "an unknown user".to_owned();
    };
    passwd().and_then(|passwd| name_of(&passwd, uid)).unwrap_or_else(|| format!("uid {uid}"))
}

/// The real user id in `/proc/self/status` (`Uid:\treal\teffective\t…`).
fn real_uid(status: &str) -> Option<u32> {
    status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.parse().ok()
}

/// The name of `uid` in a `passwd` file (`name:password:uid:…`).
fn name_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_is_found_by_id_when_the_environment_has_no_name() {
        let status = "Name:\tpaystack\nUid:\t1001\t1001\t1001\t1001\nGid:\t100\n";
        assert_eq!(real_uid(status), Some(1001));
        let passwd = "root:x:0:0:root:/root:/bin/sh\ndeploy:x:1001:100::/home/deploy:/bin/sh\n";
        assert_eq!(name_of(passwd, 1001).as_deref(), Some("deploy"));
        assert_eq!(name_of(passwd, 7), None);
    }

    #[test]
    fn the_user_is_the_first_name_the_environment_gives_then_the_uid_s() {
        let status = "Uid:\t1001\t1001\t1001\t1001\n";
        let passwd = || Some("deploy:x:1001:100::/home/deploy:/bin/sh\n".to_owned());
        let env = |user: &'static str, logname: &'static str| {
            move |v: &str| Some(if v == "USER" { user } else { logname }.to_owned()).filter(|n| !n.is_empty())
        };
        assert_eq!(find(env("ops", "other"), Some(status), passwd), "ops");
        assert_eq!(find(env("", "ops"), Some(status), passwd), "ops", "an empty USER is no name");
        assert_eq!(find(env("", ""), Some(status), passwd), "deploy");
        assert_eq!(find(env("", ""), Some(status), || None), "uid 1001");
        assert_eq!(find(env("", ""), None, passwd), "an unknown user");
    }

    #[test]
    fn this_process_s_user_is_a_real_one() {
        let name = current();
        let from_env = ["USER", "LOGNAME"].iter().find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty()));
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let known = passwd.lines().any(|l| l.split(':').next() == Some(name.as_str()));
        assert!(from_env.as_deref() == Some(name.as_str()) || known || name.starts_with("uid "), "{name}");
    }
}
