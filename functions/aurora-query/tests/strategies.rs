//! Every isolation strategy serves aurora-query end to end on the local
//! stack: the token is signed by the strategy's session (under the
//! session-policy strategies, one scoped down to the tenant's DB user), the
//! local verifier checks it against the role's policy, and RLS returns the
//! tenant's own row.

use aurora_query::{App, Config, function_handler};
use test_support::{Stack, body_json, event, request};

#[tokio::test]
async fn every_strategy_serves_each_tenant_its_own_row() {
    let stack = Stack::load();
    for isolation in tenant_access::config::Isolation::ASSUME_ROLE_NAMES {
        let env = stack.with_strategy(isolation);
        let config = Config::from_lookup(&env.lookup()).expect("the strategy's config");
        let app = App::new(&config, &env.sdk_config().await).expect("CA bundle loads");
        for tenant in ["tenant1", "tenant2"] {
            let response = function_handler(
                &app,
                request(&event(&format!("aurora-query/{tenant}-tenant.json"))),
            )
            .await
            .unwrap();
            assert_eq!(response.status(), 200, "{isolation} {tenant}");
            let body = body_json(&response);
            assert_eq!(
                body["tenant"][0]["db_user"],
                format!("{tenant}_dbuser"),
                "{isolation}"
            );
            assert_eq!(body["tenant"].as_array().unwrap().len(), 1, "{isolation}");
        }
    }
}
