//! The flows a person has at a terminal, run under a pseudo-terminal: the confirmation
//! prompt, the environment's name typed for a protected one, and the live view of a run,
//! which must end with the terminal left clean.

use rexpect::process::wait::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

use crate::support::{Stack, live_counts};

/// `paystack ARGS` for `stack` on a terminal of its own.
fn on_terminal(stack: &Stack, args: &[&str]) -> PtySession {
    let mut command = stack.command(args);
    // A terminal wide enough for the live view's lines, as a person's would be.
    command.env("COLUMNS", "120").env("TERM", "xterm-256color");
    spawn_command(command, Some(120_000)).expect("start paystack on a pseudo-terminal")
}

fn exit_code(session: &PtySession) -> i32 {
    match session.process().wait().expect("paystack ends") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("paystack did not exit normally: {other:?}"),
    }
}

#[tokio::test]
async fn apply_asks_then_shows_a_live_view_that_ends_cleanly() {
    let stack = Stack::new("dev", "tty");
    let mut apply = on_terminal(&stack, &["apply", "--target", "network.igw"]);
    apply.exp_string("This plan is partial").unwrap();
    apply.exp_string("Type `yes` to continue: ").unwrap();
    apply.send_line("yes").unwrap();
    // The view's bar counts what is done; the finished resources are kept above it.
    apply.exp_string("done").unwrap();
    apply.exp_string("network.igw: created in").unwrap();
    let rest = apply.exp_eof().unwrap();
    assert!(rest.contains("Apply complete: 2 created, in "), "{rest}");
    assert!(rest.contains("Outputs:"), "{rest}");
    assert_eq!(exit_code(&apply), 0);
    assert_eq!(live_counts(&stack).await["internet_gateway"], 1);

    // Anything but `yes` changes nothing.
    let mut destroy = on_terminal(&stack, &["destroy"]);
    destroy.exp_string("Type `yes` to continue: ").unwrap();
    destroy.send_line("y").unwrap();
    let rest = destroy.exp_eof().unwrap();
    assert!(rest.contains("destroy cancelled; nothing was changed"), "{rest}");
    assert_eq!(exit_code(&destroy), 1);
    assert_eq!(live_counts(&stack).await["vpc"], 1);
    stack.run(&["destroy", "--yes"]).success();
}

#[tokio::test]
async fn a_protected_environment_is_typed_by_name() {
    let stack = Stack::new("prod", "ttyprod");
    let mut apply = on_terminal(&stack, &["apply", "--target", "network.igw"]);
    apply.exp_string("Type `prod` to continue: ").unwrap();
    apply.send_line("yes").unwrap();
    apply.exp_string("apply cancelled; nothing was changed").unwrap();
    apply.exp_eof().unwrap();
    assert_eq!(exit_code(&apply), 1);
    assert_eq!(live_counts(&stack).await["vpc"], 0, "`yes` is not the name");

    let mut apply = on_terminal(&stack, &["apply", "--target", "network.igw"]);
    apply.exp_string("Type `prod` to continue: ").unwrap();
    apply.send_line("prod").unwrap();
    let rest = apply.exp_eof().unwrap();
    assert!(rest.contains("Apply complete: 2 created"), "{rest}");
    assert_eq!(exit_code(&apply), 0);

    // Deleting in prod needs the override, and the name typed even with --yes.
    let refused = stack.run(&["destroy", "--yes"]).code(1);
    assert!(refused.stderr.contains("--override-protection"), "{}", refused.stderr);
    let mut destroy = on_terminal(&stack, &["destroy", "--yes", "--override-protection"]);
    destroy.exp_string("Type `prod` to continue: ").unwrap();
    destroy.send_line("prod").unwrap();
    let rest = destroy.exp_eof().unwrap();
    assert!(rest.contains("Destroy complete: 2 deleted"), "{rest}");
    assert_eq!(exit_code(&destroy), 0);
    assert!(live_counts(&stack).await.values().all(|n| *n == 0));
}
