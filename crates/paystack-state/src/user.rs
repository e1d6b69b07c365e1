//! Who runs this process, for lock records: the login name, found without `USER` in the
//! environment too (cron jobs and containers often have none).

/// The login name of this process's user: `USER` or `LOGNAME`, else the name `/etc/passwd`
/// gives the process's real user id, else `uid N`.
pub(crate) fn current() -> String {
    if let Some(name) = ["USER", "LOGNAME"].iter().find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty())) {
        return name;
    }
    let Some(uid) = std::fs::read_to_string("/proc/self/status").ok().as_deref().and_then(real_uid) else {
        return "an unknown user".to_owned();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| name_of(&passwd, uid))
        .unwrap_or_else(|| format!("uid {uid}"))
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
}
