//! db-admin against the local stack. The master user's secret is the one
//! thing its identity may read, and nobody else may read it: not the
//! functions' execution identity, not a tenant's session (the local front
//! decides Secrets Manager calls with the template's policies, as IAM
//! would; moto alone checks only the action). Its actions refuse bad input
//! before logging in. Onboarding and offboarding through it end to end
//! (`cargo xtask tenant add|remove --local`, which invoke its built binary)
//! are `xtask/tests/offboarding.rs`.

use aws_credential_types::Credentials;
use aws_sdk_secretsmanager::Client;
use db_admin::{Action, Admin, Config, Error};
use test_support::Stack;

const OTHER_SECRET: &str = "tenant-access/another-secret";

async fn secrets_as(stack: &Stack, creds: Credentials) -> Client {
    Client::new(&stack.sdk_config_with(creds).await)
}

fn db_admin_credentials(stack: &Stack) -> Credentials {
    Credentials::new(
        stack.var("STACK_DB_ADMIN_ACCESS_KEY_ID"),
        stack.var("STACK_DB_ADMIN_SECRET_ACCESS_KEY"),
        None,
        None,
        "db-admin",
    )
}

/// The error code of a refused `GetSecretValue` of `id`, or `None` when it
/// was read.
async fn read(client: &Client, id: &str) -> Option<String> {
    match client.get_secret_value().secret_id(id).send().await {
        Ok(secret) => {
            assert!(
                secret
                    .secret_string()
                    .is_some_and(|s| s.contains("password"))
            );
            None
        }
        Err(e) => Some(
            e.as_service_error()
                .and_then(|s| aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(s))
                .unwrap_or("no code")
                .to_owned(),
        ),
    }
}

#[tokio::test]
async fn only_db_admin_reads_the_master_secret_and_only_that_secret() {
    let stack = Stack::load();
    let secret = stack.var("STACK_DB_ADMIN_SECRET_ID");
    let admin = secrets_as(&stack, db_admin_credentials(&stack)).await;
    assert_eq!(
        read(&admin, &secret).await,
        None,
        "db-admin reads its secret"
    );
    assert_eq!(
        read(&admin, OTHER_SECRET).await.as_deref(),
        Some("AccessDeniedException"),
        "db-admin's policy names one secret"
    );

    // The functions' execution identity: a compromised function cannot
    // become the database's master user.
    let functions = Client::new(&stack.sdk_config().await);
    assert_eq!(
        read(&functions, &secret).await.as_deref(),
        Some("AccessDeniedException")
    );
    // A tenant's own session, assumed without any session policy.
    let tenant = secrets_as(&stack, stack.raw_tenant_credentials("tenant1").await).await;
    assert_eq!(
        read(&tenant, &secret).await.as_deref(),
        Some("AccessDeniedException")
    );
}

/// Requests the front could misread are refused at its door, not passed to
/// moto (whose copy of db-admin's policy allows every secret): a secret
/// named in the query string, which moto reads before the body, and a
/// target that is not `secretsmanager.<Operation>`, which moto routes by
/// the signing scope all the same.
#[tokio::test]
async fn a_request_the_front_cannot_read_is_refused() {
    let stack = Stack::load();
    let secret = stack.var("STACK_DB_ADMIN_SECRET_ID");
    let admin = secrets_as(&stack, db_admin_credentials(&stack)).await;
    let code = |e: aws_sdk_secretsmanager::error::SdkError<_, _>| {
        e.as_service_error()
            .and_then(
                |s: &aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError| {
                    aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(s).map(str::to_owned)
                },
            )
            .unwrap_or_else(|| format!("{e:?}"))
    };
    let other_in_query = admin
        .get_secret_value()
        .secret_id(&secret)
        .customize()
        .mutate_request(|request| {
            let uri = format!("{}?SecretId=tenant-access%2Fanother-secret", request.uri());
            request.set_uri(uri).expect("a URI");
        })
        .send()
        .await;
    // The door refuses a JSON-protocol call with a query string before
    // anything reads it (moto would read the other secret's id there).
    assert_eq!(
        other_in_query.map(|_| ()).map_err(code),
        Err("UnknownOperationException".to_owned())
    );
    let other_target = admin
        .get_secret_value()
        .secret_id(OTHER_SECRET)
        .customize()
        .mutate_request(|request| {
            request
                .headers_mut()
                .insert("x-amz-target", "SecretsManager.GetSecretValue");
        })
        .send()
        .await;
    // Refused at the door: the target is not the signing scope's service.
    assert_eq!(
        other_target.map(|_| ()).map_err(code),
        Err("UnknownOperationException".to_owned())
    );
}

#[tokio::test]
async fn bad_input_is_refused_before_logging_in() {
    let stack = Stack::load();
    let lookup = |name: &str| match name {
        "DB_ADMIN_SECRET_ID" => Some(stack.var("STACK_DB_ADMIN_SECRET_ID")),
        _ => stack.lookup()(name),
    };
    let config = Config::from_lookup(lookup).expect("db-admin's configuration");
    // Signed by an identity that may not read the secret: an action that
    // got as far as logging in would fail with Error::Secret instead.
    let admin = Admin::new(config.clone(), &stack.sdk_config().await);
    for (action, what) in [
        (
            Action::Onboard {
                tenants: vec!["tenant1".into(), "../tenant2".into()],
                statement_timeout_ms: 5000,
            },
            "a tenant id",
        ),
        (
            Action::Onboard {
                tenants: vec!["x".repeat(60)],
                statement_timeout_ms: 5000,
            },
            "a tenant id too long for its DB user",
        ),
        (
            Action::Onboard {
                tenants: vec!["tenant1".into()],
                statement_timeout_ms: 5,
            },
            "a statement timeout",
        ),
        (
            Action::Offboard {
                tenants: vec!["Tenant1".into()],
                purge: true,
            },
            "a tenant id with capitals",
        ),
    ] {
        let err = admin.run(&action).await.expect_err(what);
        // Each bad input is refused for its own reason, naming it.
        let expected = match &action {
            Action::Onboard {
                statement_timeout_ms: 5,
                ..
            } => matches!(err, Error::StatementTimeout(5)),
            Action::Onboard { tenants, .. } | Action::Offboard { tenants, .. } => {
                let bad = tenants.last().expect("a tenant");
                matches!(&err, Error::InvalidTenant(id, _) if id == bad)
            }
            _ => false,
        };
        assert!(expected, "{what}: {err}");
    }
    // With a good action the same admin gets as far as the secret, and is
    // refused there.
    let err = admin.run(&Action::Migrate {}).await.unwrap_err();
    assert!(matches!(err, Error::Secret(_)), "{err}");
    assert!(
        !err.to_string()
            .contains(&stack.var("STACK_DB_ADMIN_PASSWORD"))
    );

    let missing = Config::from_lookup(|name: &str| stack.lookup()(name)).unwrap_err();
    assert_eq!(missing.variable, "DB_ADMIN_SECRET_ID");
}

#[test]
fn events_parse_as_the_xtask_sends_them() {
    let action: Action =
        serde_json::from_str(r#"{"action":"offboard","tenants":["acme"],"purge":true}"#).unwrap();
    assert_eq!(
        action,
        Action::Offboard {
            tenants: vec!["acme".into()],
            purge: true
        }
    );
    assert!(serde_json::from_str::<Action>(r#"{"action":"drop"}"#).is_err());
    assert!(
        serde_json::from_str::<Action>(r#"{"action":"migrate","sql":"DROP TABLE records"}"#)
            .is_err(),
        "no field beyond the action's"
    );
}
