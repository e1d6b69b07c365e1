//! The `bootstrap` executable of the compliance function on `provided.al2023`: the Lambda
//! runtime loop around [`paystack_function::Handler`].

use lambda_runtime::{Error, LambdaEvent, service_fn};
use paystack_function::{Handler, Settings};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let settings = Settings::from_variables(|k| std::env::var(k).ok())?;
    // Lambda sets the region the function runs in.
    let region = std::env::var("AWS_REGION")?;
    let handler = Handler::from_env(&region, settings).await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let outcome = handler.handle(&event.payload).await?;
        Ok::<Value, Error>(json!({ "checked": outcome.checked, "published": outcome.published }))
    }))
    .await
}
