//! The deploy role's statements for what the platform runs on its own (the compliance
//! function, its EventBridge rules, the drift schedule), and the read-only statements of the
//! two roles that only look: the compliance function's and the scheduled drift's.

use serde_json::{Value, json};

use super::{ROLE_PATH_ROOT, Scope};

/// The calls that change nothing, by the verb they start with.
const READ_VERBS: &[&str] = &["Describe", "List", "Get"];

/// Reads that reach data, not configuration: a secret's value, state objects, table items.
/// Neither read-only role may make them, except the drift's reads of its own state.
const DATA_READS: &[&str] = &[
    "secretsmanager:GetSecretValue",
    "secretsmanager:GetRandomPassword",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "dynamodb:GetItem",
    "lambda:GetFunction",
];

impl Scope<'_> {
    pub(super) fn automation_statements(&self) -> Vec<Value> {
        let named = self.named();
        let mut statements = vec![
            self.allow(
                &["lambda:ListFunctions", "events:ListRules", "scheduler:ListSchedules"],
                vec!["*".into()],
                false,
            ),
            self.allow(
                &[
                    "lambda:CreateFunction",
                    "lambda:DeleteFunction",
                    "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:UpdateFunctionCode",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:GetPolicy",
                    "lambda:AddPermission",
                    "lambda:RemovePermission",
                    "lambda:ListTags",
                    "lambda:TagResource",
                    "lambda:UntagResource",
                ],
                self.arns("lambda", &format!("function:{named}")),
                false,
            ),
            self.allow(
                &[
                    "events:PutRule",
                    "events:DeleteRule",
                    "events:DescribeRule",
                    "events:PutTargets",
                    "events:RemoveTargets",
                    "events:ListTargetsByRule",
                    "events:ListTagsForResource",
                    "events:TagResource",
                    "events:UntagResource",
                ],
                self.arns("events", &format!("rule/{named}")),
                false,
            ),
            // A schedule's name starts with its stack's key (`{env}` or `{env}-{suffix}`).
            self.allow(
                &[
                    "scheduler:CreateSchedule",
                    "scheduler:UpdateSchedule",
                    "scheduler:DeleteSchedule",
                    "scheduler:GetSchedule",
                ],
                self.arns("scheduler", &format!("schedule/default/{}*", self.env.name)),
                false,
            ),
        ];
        // Scheduler and Lambda take the roles the stack made for them, and no other.
        let roles = vec![format!("arn:aws:iam::{}:role{ROLE_PATH_ROOT}{}*", self.account, self.env.name)];
        let mut pass = self.allow(&["iam:PassRole"], roles, true);
        pass["Condition"]["StringEquals"]["iam:PassedToService"] =
            json!(["lambda.amazonaws.com", "scheduler.amazonaws.com"]);
        statements.push(pass);
        statements
    }

    /// The deploy role's statements cut down to the reads of configuration: what `plan`,
    /// `drift` and `check` call, and nothing that reads data or changes anything. With
    /// `state`, the reads of the environment's state as well.
    pub(super) fn read_only_statements(&self, state: bool) -> Vec<Value> {
        let state_objects: Vec<String> = self
            .env
            .state_bucket()
            .map(|b| vec![format!("arn:aws:s3:::{b}"), format!("arn:aws:s3:::{b}/*")])
            .unwrap_or_default();
        let mut out = Vec::new();
        for mut statement in self.deploy_statements() {
            let actions: Vec<Value> = statement["Action"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|a| {
                    let verb = a.split_once(':').map_or("", |(_, v)| v);
                    READ_VERBS.iter().any(|r| verb.starts_with(r)) && !DATA_READS.contains(a)
                })
                .map(|a| json!(a))
                .collect();
            if actions.is_empty() {
                continue;
            }
            statement["Action"] = json!(actions);
            out.push(statement);
        }
        if state && !state_objects.is_empty() {
            out.push(self.allow(&["s3:GetObject", "s3:ListBucket"], state_objects, false));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::read_only_statements;
    use super::super::tests::env;

    fn actions(statements: &[Value]) -> Vec<String> {
        statements
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn the_read_only_roles_read_configuration_and_never_a_secret_s_value() {
        let e = env(None);
        let compliance = read_only_statements(&e, "333333333333", false);
        let all = actions(&compliance);
        for read in ["ec2:Describe*", "iam:GetRolePolicy", "s3:GetBucketVersioning", "lambda:GetPolicy"] {
            assert!(all.iter().any(|a| a == read), "{read} missing from {all:?}");
        }
        for never in
            ["secretsmanager:GetSecretValue", "s3:GetObject", "s3:PutObject", "iam:PassRole", "lambda:GetFunction"]
        {
            assert!(!all.iter().any(|a| a == never), "{never} in {all:?}");
        }
        assert!(
            all.iter().all(|a| ["Describe", "List", "Get"].iter().any(|v| a.split(':').nth(1).unwrap().starts_with(v)))
        );
        let drift = read_only_statements(&e, "333333333333", true);
        let state = drift.iter().find(|s| s["Action"].as_array().unwrap().iter().any(|a| a == "s3:GetObject"));
        match e.state_bucket() {
            Some(bucket) => assert_eq!(state.unwrap()["Resource"][0], format!("arn:aws:s3:::{bucket}")),
            None => assert!(state.is_none(), "local state: nothing in S3 to read"),
        }
    }
}
