//! SDK errors, classified where the call is made.

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use paystack_core::Observed;
use paystack_engine::{ErrorClass, ReconcileError};

use crate::clients::MAY_HAVE_ACTED;

/// EC2 models almost none of its errors, so its error codes are the typed information there
/// is. These are the ones that mean "not yet" rather than "no".
const RETRYABLE_CODES: &[&str] =
    &["DependencyViolation", "IncorrectState", "InvalidState", "RequestLimitExceeded", "ResourceInUse"];

/// Throttling, as each protocol names it: still throttled after the SDK's own retries.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "RequestThrottled",
    "PriorRequestNotComplete",
];

/// Whether an error code says that what a create would make exists already. The services
/// name these consistently: `…AlreadyExists` (IAM, RDS), `…AlreadyExistsException` (Logs),
/// `ResourceExistsException` (Secrets Manager), `Duplicate…` (ELB), `….Duplicate` (EC2).
/// EC2's `Resource.AlreadyAssociated` is one too: a create's association step (a route
/// table's subnet) retried after its answer was lost finds the association made.
fn already_exists(code: &str) -> bool {
    code == "Resource.AlreadyAssociated"
        || code.contains("AlreadyExists")
        || code.ends_with("ExistsException")
        || code.starts_with("Duplicate")
        || code.ends_with(".Duplicate")
}

/// Turns an SDK error into the engine's classified error, naming the operation.
pub(crate) fn classify<E>(operation: &str, err: SdkError<E, HttpResponse>) -> ReconcileError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = err.code().map(str::to_owned);
    let raw = err.raw_response();
    let may_have_acted = raw.and_then(|r| r.headers().get(MAY_HAVE_ACTED)).map(str::to_owned);
    let server_error = raw.is_some_and(|r| r.status().is_server_error());
    let class = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => ErrorClass::Retryable,
        _ if may_have_acted.is_some() || server_error => ErrorClass::Retryable,
        SdkError::ServiceError(_) if code.as_deref().is_some_and(already_exists) => ErrorClass::Conflict,
        // Right after a create, EC2 may not see the new resource yet (eventual consistency).
        SdkError::ServiceError(_)
            if code.as_deref().is_some_and(|c| {
                RETRYABLE_CODES.contains(&c) || THROTTLING_CODES.contains(&c) || c.ends_with(".NotFound")
            }) =>
        {
            ErrorClass::Retryable
        }
        _ => ErrorClass::Permanent,
    };
    let message = match &may_have_acted {
        Some(status) => format!("{operation}: AWS answered {status}, and may have acted before it failed to answer"),
        None => plain(operation, &err),
    };
    ReconcileError { class, message }
}

/// Codes that say the credentials were refused, or have run out.
const EXPIRED_CODES: &[&str] = &["ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"];
const REFUSED_CODES: &[&str] = &[
    "AuthFailure",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
];
const DENIED_CODES: &[&str] =
    &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "UnauthorizedAccess"];

/// An SDK error as one plain line: what happened to `operation`, and what to do about it.
/// The SDK's whole chain of causes goes to the debug log (`PAYSTACK_LOG=debug`), never to the
/// user's screen.
pub(crate) fn plain<E>(operation: &str, err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    tracing::debug!(operation, error = %aws_sdk_ec2::error::DisplayErrorContext(err), "AWS call failed");
    format!("{operation}: {}", describe(err))
}

/// What [`plain`] says after the operation's name.
pub(crate) fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(credentials) = cause::<CredentialsError>(err) {
        return match credentials {
            CredentialsError::CredentialsNotLoaded(_) => "no AWS credentials found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`".to_owned(),
            CredentialsError::ProviderTimedOut(_) => {
                "the AWS credentials could not be fetched in time; check the network, then run again".to_owned()
            }
            other => format!("the AWS credentials could not be loaded ({other}); check AWS_PROFILE and ~/.aws"),
        };
    }
    match err {
        SdkError::TimeoutError(_) => {
            "AWS did not answer in time; check the network and AWS's status, then run again".to_owned()
        }
        SdkError::DispatchFailure(failure) => {
            let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "the AWS endpoint".to_owned());
            match (failure.is_timeout(), cause::<std::io::Error>(err)) {
                (true, _) => format!("{endpoint} did not answer in time; check the network, then run again"),
                (false, Some(io)) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
                    "cannot connect to {endpoint}: the connection was refused; check AWS_ENDPOINT_URL, the region, and that the endpoint is up"
                ),
                (false, Some(io)) => {
                    format!("cannot reach {endpoint} ({io}); check AWS_ENDPOINT_URL, the region, and the network")
                }
                (false, None) => format!(
                    "the request could not be sent ({failure:?}); run again with PAYSTACK_LOG=debug for the cause"
                ),
            }
        }
        SdkError::ResponseError(_) => "AWS's answer could not be read; run again".to_owned(),
        _ => match (err.code(), err.message()) {
            (Some(code), _) if EXPIRED_CODES.contains(&code) => format!(
                "the AWS credentials have expired ({code}); renew them (`aws sso login`, or new session keys), then run again"
            ),
            (Some(code), _) if REFUSED_CODES.contains(&code) => {
                format!("AWS refused the credentials ({code}); check the access key, its secret, and the clock")
            }
            (Some(code), message) if DENIED_CODES.contains(&code) => format!(
                "access denied: {}; allow it in the deploy role's policy",
                message.unwrap_or("these credentials may not make this call")
            ),
            (Some(code), _) if THROTTLING_CODES.contains(&code) => format!(
                "AWS kept throttling the request ({code}) through every retry; run again later, or with a lower --parallel"
            ),
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            (None, _) => "AWS answered with an error it did not name; run again with PAYSTACK_LOG=debug for the answer"
                .to_owned(),
        },
    }
}

/// The first cause of type `T` in an error's chain of sources.
fn cause<'a, T: std::error::Error + 'static>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// True when the error says the resource does not exist, which a delete takes as success.
pub(crate) fn is_not_found<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(err, SdkError::ServiceError(_))
        && err.code().is_some_and(|c| c.ends_with(".NotFound") || c.ends_with("NotFound"))
}

/// A field the model marks optional that AWS did not return.
pub(crate) fn missing(what: &str) -> ReconcileError {
    ReconcileError::permanent(format!("AWS returned no {what}"))
}

/// Every item of a paginated read, or the classified error of the page that failed.
pub(crate) async fn all<T, E>(
    operation: &str,
    items: PaginationStream<Result<T, SdkError<E, HttpResponse>>>,
) -> Result<Vec<T>, ReconcileError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    items.collect::<Result<Vec<T>, _>>().await.map_err(|e| classify(operation, e))
}

/// The result of a delete, where "it does not exist" is success: deletes are idempotent, so
/// a run that died after deleting can delete again.
pub(crate) fn unless_not_found<T, E>(
    operation: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Result<(), ReconcileError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Err(e) if !is_not_found(&e) => Err(classify(operation, e)),
        _ => Ok(()),
    }
}

/// Like [`classify`], for services whose errors are modelled: `not_yet` says, from the typed
/// error, whether it means "not yet" (a resource still changing state) rather than "no".
pub(crate) fn classify_typed<E>(
    operation: &str,
    err: SdkError<E, HttpResponse>,
    not_yet: impl Fn(&E) -> bool,
) -> ReconcileError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retry = err.as_service_error().is_some_and(not_yet);
    let mut classified = classify(operation, err);
    if retry {
        classified.class = ErrorClass::Retryable;
    }
    classified
}

/// The result of a delete in a service whose errors are modelled: `gone` says, from the
/// typed error, that the resource no longer exists, which is success.
pub(crate) fn unless_gone<T, E>(
    operation: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
    gone: impl Fn(&E) -> bool,
    not_yet: impl Fn(&E) -> bool,
) -> Result<(), ReconcileError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(&gone) => Ok(()),
        Err(e) => Err(classify_typed(operation, e, not_yet)),
    }
}

/// The result of reading details of a resource found by a listing a moment before: `None`
/// when `gone` says it was deleted in between (by another stack sharing the account), which
/// is not an error of this run.
pub(crate) fn unless_gone_since<T, E>(
    operation: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
    gone: impl Fn(&E) -> bool,
) -> Result<Option<T>, ReconcileError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.as_service_error().is_some_and(gone) => Ok(None),
        Err(e) => Err(classify(operation, e)),
    }
}

/// The outcome of a waiter. A failed poll is classified like any call. Running out of time or
/// reaching a failure state is final for this run: waiting again at once would only repeat
/// it. The resource is recorded either way, and the next run waits for it again.
pub(crate) fn waited<T, O, E>(
    what: &str,
    result: Result<T, WaiterError<O, E>>,
    still: Option<String>,
) -> Result<(), ReconcileError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    O: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(()),
        Err(WaiterError::OperationFailed(failed)) => Err(classify(what, failed.into_error())),
        Err(WaiterError::ExceededMaxWait(out)) => Err(ReconcileError::permanent(format!(
            "{what}: AWS had not finished after {}s{} ({} looks; the limit is {}s, set under [waits]); \
             it is recorded, and the next run waits again",
            out.elapsed().as_secs(),
            still.map(|s| format!(", still `{s}`")).unwrap_or_default(),
            out.poll_count(),
            out.max_wait().as_secs()
        ))),
        Err(WaiterError::FailureState(_)) => Err(ReconcileError::permanent(format!(
            "{what}: AWS reports that it failed; see the resource in the console"
        ))),
        Err(other) => Err(ReconcileError::permanent(format!("{what}: {other}"))),
    }
}

/// Whether a waiter gave up because its time ran out: then the resource's status, read once
/// more, says where it was stuck.
pub(crate) fn ran_out<T, O, E>(result: &Result<T, WaiterError<O, E>>) -> bool {
    matches!(result, Err(WaiterError::ExceededMaxWait(_)))
}

/// The resource once its waiter has seen it ready: no longer pending. `what` names its kind
/// ("NAT gateway"); `still` is the status it was stuck in, if the wait ran out.
pub(crate) fn settled<T, O, E>(
    mut current: Observed,
    what: &str,
    result: Result<T, WaiterError<O, E>>,
    still: Option<String>,
) -> Result<Observed, ReconcileError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    O: std::fmt::Debug,
{
    waited(&format!("waiting for {what} {}", current.aws_id), result, still)?;
    current.pending = false;
    Ok(current)
}

/// Whether the waiter for the resource's deletion saw it gone.
pub(crate) fn gone<T, O, E>(
    current: &Observed,
    what: &str,
    result: Result<T, WaiterError<O, E>>,
) -> Result<(), ReconcileError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    O: std::fmt::Debug,
{
    waited(&format!("waiting for {what} {} to be deleted", current.aws_id), result, None)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_ec2::operation::delete_vpc::{DeleteVpcError, DeleteVpcOutput};
    use aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::waiters::error::{ExceededMaxWait, OperationFailed};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    /// The error EC2 returns for `code`, as the SDK hands it to the caller.
    fn ec2_error(code: &str) -> SdkError<DeleteVpcError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message("what EC2 said").build();
        let raw = HttpResponse::new(400u16.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(DeleteVpcError::generic(meta), raw)
    }

    fn answered(status: u16, code: &str, message: &str) -> SdkError<DeleteVpcError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(DeleteVpcError::generic(meta), raw)
    }

    #[test]
    fn each_failure_reads_as_one_line_that_says_what_to_do() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let refused = SdkError::<DeleteVpcError, HttpResponse>::dispatch_failure(ConnectorError::io(Box::new(
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        )));
        let no_credentials = SdkError::<DeleteVpcError, HttpResponse>::dispatch_failure(ConnectorError::other(
            Box::new(CredentialsError::not_loaded("no provider found any")),
            None,
        ));
        let timeout = SdkError::<DeleteVpcError, HttpResponse>::timeout_error("30s passed");
        let denied = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ec2:DeleteVpc on resource: arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1";
        let cases = [
            (refused, "DeleteVpc: cannot connect to", "the connection was refused; check AWS_ENDPOINT_URL"),
            (no_credentials, "DeleteVpc: no AWS credentials found", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
            (timeout, "DeleteVpc: AWS did not answer in time", "then run again"),
            (
                answered(400, "ExpiredToken", "The security token included in the request is expired"),
                "have expired (ExpiredToken)",
                "aws sso login",
            ),
            (
                answered(403, "UnauthorizedOperation", denied),
                "DeleteVpc: access denied: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ec2:DeleteVpc on resource: arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1",
                "deploy role's policy",
            ),
            (
                answered(400, "AuthFailure", "AWS was not able to validate the provided access credentials"),
                "AWS refused the credentials (AuthFailure)",
                "check the access key",
            ),
            (
                answered(503, "RequestLimitExceeded", "Request limit exceeded."),
                "kept throttling the request (RequestLimitExceeded)",
                "lower --parallel",
            ),
        ];
        for (err, what, next) in cases {
            let line = plain("DeleteVpc", &err);
            assert!(line.contains(what) && line.contains(next), "{line}");
            assert!(!line.contains('\n') && !line.contains("DispatchFailure"), "one plain line: {line}");
        }
    }

    #[test]
    fn codes_that_mean_not_yet_are_retryable_and_the_rest_are_not() {
        for code in ["DependencyViolation", "IncorrectState", "InvalidRouteTableID.NotFound"] {
            assert_eq!(classify("DeleteVpc", ec2_error(code)).class, ErrorClass::Retryable, "{code}");
        }
        let e = classify("DeleteVpc", ec2_error("UnauthorizedOperation"));
        assert_eq!(e.class, ErrorClass::Permanent);
        assert_eq!(e.message, "DeleteVpc: access denied: what EC2 said; allow it in the deploy role's policy");
        for code in ["RouteAlreadyExists", "Resource.AlreadyAssociated", "InvalidPermission.Duplicate"] {
            assert_eq!(classify("CreateRoute", ec2_error(code)).class, ErrorClass::Conflict, "{code}");
        }
        let timeout: SdkError<DeleteVpcError, HttpResponse> = SdkError::timeout_error("slow");
        assert_eq!(classify("DeleteVpc", timeout).class, ErrorClass::Retryable);
    }

    #[test]
    fn a_delete_of_what_is_already_gone_succeeds() {
        let gone: Result<DeleteVpcOutput, _> = Err(ec2_error("InvalidVpcID.NotFound"));
        assert!(unless_not_found("DeleteVpc", gone).is_ok());
        let busy: Result<DeleteVpcOutput, _> = Err(ec2_error("DependencyViolation"));
        assert_eq!(unless_not_found("DeleteVpc", busy).unwrap_err().class, ErrorClass::Retryable);
    }

    #[test]
    fn a_wait_that_runs_out_is_final_and_a_failed_poll_is_classified() {
        type Waited = Result<(), WaiterError<DescribeNatGatewaysOutput, DeleteVpcError>>;
        let timed_out: Waited = Err(WaiterError::ExceededMaxWait(ExceededMaxWait::new(
            Duration::from_secs(1200),
            Duration::from_secs(1201),
            80,
        )));
        let e = waited("waiting for NAT gateway nat-1", timed_out, Some("pending".into())).unwrap_err();
        assert_eq!(e.class, ErrorClass::Permanent);
        assert!(
            e.message.contains("after 1201s, still `pending` (80 looks; the limit is 1200s, set under [waits])"),
            "{}",
            e.message
        );
        assert!(e.message.contains("the next run waits again"), "{}", e.message);
        let poll_failed: Waited =
            Err(WaiterError::OperationFailed(OperationFailed::new(ec2_error("RequestLimitExceeded"))));
        assert_eq!(waited("waiting", poll_failed, None).unwrap_err().class, ErrorClass::Retryable);
    }
}
