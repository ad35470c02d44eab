//! How clients reach the API: an Ingress when the spec asks for one, and the URL the status reports.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use kube::ResourceExt;

use super::{Component, meta, name};
use crate::crd::WiberCluster;

pub(super) fn ingress(wc: &WiberCluster) -> Option<Ingress> {
    let spec = wc.spec.api.ingress.as_ref()?;
    let mut metadata = meta(wc, name(wc, "api"), Some(Component::Api));
    metadata.annotations = (!spec.annotations.is_empty()).then(|| spec.annotations.clone());
    Some(Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(vec![IngressRule {
                host: Some(spec.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some(spec.path.clone()),
                        path_type: "Prefix".to_owned(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: name(wc, "api"),
                                port: Some(ServiceBackendPort {
                                    name: Some("http".to_owned()),
                                    number: None,
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            tls: spec.tls.as_ref().map(|tls| {
                vec![IngressTLS {
                    hosts: Some(vec![spec.host.clone()]),
                    secret_name: Some(tls.secret_name.clone()),
                }]
            }),
            default_backend: None,
        }),
        status: None,
    })
}

/// The URL clients use: the Ingress's (https with its TLS), else the Service's inside the cluster
/// (https when the API itself serves TLS).
pub fn api_url(wc: &WiberCluster) -> String {
    let api = &wc.spec.api;
    match &api.ingress {
        Some(ingress) => {
            let scheme = if ingress.tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}{}", ingress.host, ingress.path)
        }
        None => {
            let scheme = if api.tls.is_some() { "https" } else { "http" };
            let ns = wc.namespace().unwrap_or_default();
            format!(
                "{scheme}://{}.{ns}.svc:{}",
                name(wc, "api"),
                api.service.port
            )
        }
    }
}
