//! Asking a running daemon over its HTTP API: any answer, readiness,
//! counters, routes.

use super::*;

impl Testbed {
    /// Runs `f` with a client of node `i`'s API, from a thread inside the
    /// node's namespace (the API listens on the namespace's loopback).
    pub fn with_api<T: Send + 'static>(
        &self,
        i: usize,
        f: impl FnOnce(&api::Client) -> T + Send + 'static,
    ) -> Result<T> {
        let ns = self.nodes[i].ns.clone();
        std::thread::spawn(move || {
            cmd::enter_netns(&ns)?;
            Ok(f(&api::Client::new(API_ADDR)))
        })
        .join()
        .map_err(|_| Error::Panicked("API"))?
    }

    /// An [`Error::Api`] of node `i` for `path`.
    fn api_error(&self, i: usize, path: &str) -> impl FnOnce(api::Error) -> Error {
        let (node, path) = (self.nodes[i].name.clone(), path.to_string());
        move |source| Error::Api { node, path, source }
    }

    /// GET `path` from node `i`'s API: the status code and the body.
    pub fn api(&self, i: usize, path: &str) -> Result<(u16, String)> {
        let p = path.to_string();
        self.with_api(i, move |c| c.get_raw(&p))?
            .map_err(self.api_error(i, path))
    }

    /// POST a JSON `body` to `path` on node `i`'s API.
    pub fn api_post(&self, i: usize, path: &str, body: &str) -> Result<(u16, String)> {
        let p = path.to_string();
        let body: serde_json::Value = serde_json::from_str(body)
            .map_err(|e| Error::Invalid(format!("body for {path} is not JSON: {e}")))?;
        self.with_api(i, move |c| c.post_raw(&p, &body))?
            .map_err(self.api_error(i, path))
    }

    /// GET `path` from node `i`'s API as `T` (an answer's type, or
    /// `serde_json::Value`). A daemon that does not accept the connection
    /// yet (just restarted) is asked again for up to [`API_RETRY`]; any
    /// other failure is an error at once.
    pub fn try_api<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        i: usize,
        path: &str,
    ) -> Result<T> {
        let deadline = Instant::now() + API_RETRY;
        loop {
            let p = path.to_string();
            match self.with_api(i, move |c| c.get::<T>(&p))? {
                Ok(v) => return Ok(v),
                Err(e) if e.is_connect() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(self.api_error(i, path)(e)),
            }
        }
    }

    /// [`Testbed::try_api`] as JSON.
    pub fn try_api_json(&self, i: usize, path: &str) -> Result<serde_json::Value> {
        self.try_api(i, path)
    }

    /// GET JSON from node `i`'s API ([`Testbed::try_api_json`]), panicking
    /// on failure with the end of the daemon's log.
    pub fn api_json(&self, i: usize, path: &str) -> serde_json::Value {
        self.try_api_json(i, path)
            .unwrap_or_else(|e| panic!("{e}; log ends:\n{}", self.log_tail(i, 30)))
    }

    /// Waits until every daemon answers /readyz with 200, or panics with logs.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for i in 0..self.nodes.len() {
            loop {
                if matches!(self.api(i, "/readyz"), Ok((200, _))) {
                    break;
                }
                if Instant::now() > deadline {
                    panic!(
                        "{} not ready after {timeout:?}; log:\n{}",
                        self.nodes[i].name,
                        self.log(i)
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Waits until RSU `rsu` lists `count` OBUs in its routes (the API view
    /// follows the data plane by up to one loop turn).
    pub fn wait_rsu_routes(&self, rsu: usize, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            // A refused connection is retried inside; anything else (the
            // daemon died) is a failure to report, not a wait to sit out.
            let r = self.api_json(rsu, "/api/v1/routes");
            if r["obus"].as_array().is_some_and(|a| a.len() == count) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits for node `i`'s readiness.
    pub fn wait_node_ready(&self, i: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.api(i, "/readyz"), Ok((200, _))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// A counter from node `i`'s `/api/v1/stats`, e.g. ("routing", "relayed").
    pub fn stat(&self, i: usize, section: &str, key: &str) -> u64 {
        let v = self.api_json(i, "/api/v1/stats");
        v[section][key]
            .as_u64()
            .unwrap_or_else(|| panic!("no {section}.{key} in {v}"))
    }

    /// Index of the node whose radio has MAC `mac`.
    pub fn by_mac(&self, mac: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.mac == mac)
    }

    /// Node `i`'s current upstream as (rsu index, next-hop index).
    pub fn upstream(&self, i: usize) -> Option<(usize, usize)> {
        let routes: api::Routes = self
            .try_api(i, api::paths::ROUTES)
            .unwrap_or_else(|e| panic!("{e}; log ends:\n{}", self.log_tail(i, 30)));
        let api::Routes::Obu(o) = routes else {
            return None;
        };
        let u = o.upstream?;
        Some((
            self.by_mac(&u.rsu.to_string())?,
            self.by_mac(&u.next_hop.to_string())?,
        ))
    }

    pub fn node_index(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }
}
