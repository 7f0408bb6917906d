//! The server loop: the LSP handshake, one thread reading messages and answering requests
//! from the open buffers, and one worker thread running checks.
//!
//! Checks are debounced: a change after a quiet spell is checked at once (a one-line edit
//! publishes as soon as its check ends), a change within [`DEBOUNCE`] of the previous one
//! waits until the typing pauses. A newer job for the same check replaces a pending one,
//! and a result computed from buffers that have changed since is dropped, so stale
//! findings are never published. Requests never wait for a check: they read the current
//! text, parsed on demand (and cached per version).
//!
//! A panic while answering a request becomes an error response; a panic in a check is
//! logged and that check publishes nothing. The server itself keeps going.

use super::actions;
use super::analysis::{Config, Input, Job, Model, Outcome, ProjectView, Unit, carry_over, unit_of};
use super::completion::{self, ItemKind};
use super::diagnostics::Finding;
use super::documents::{self, Document, Documents, Encoding, Kind};
use super::formatting;
use super::hover::{self, Context};
use super::navigation;
use crate::check::Depth;
use crate::diagnostics::SourceFile;
use crossbeam_channel::{Receiver, Sender, select};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::Notification as _;
use lsp_types::{
    CodeActionOrCommand, CodeActionParams, CompletionItem, CompletionItemKind, CompletionParams,
    CompletionResponse, DidChangeConfigurationParams, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DidSaveTextDocumentParams,
    DocumentFormattingParams, GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents,
    HoverParams, MarkupContent, MarkupKind, PrepareRenameResponse, PublishDiagnosticsParams,
    ReferenceParams, RenameParams, ShowMessageParams, TextDocumentPositionParams, TextEdit, Uri,
    WorkspaceEdit,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long typing must pause before a check runs (a change after a longer pause is
/// checked at once).
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// How the session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `shutdown`, then `exit`.
    Clean,
    /// `exit` without `shutdown`, or the client went away (the protocol's exit code 1).
    Abrupt,
}

/// Serve the LSP over standard input and output until the client says `exit`.
pub fn run() -> Result<End, String> {
    super::before_serving();
    let (connection, io_threads) = Connection::stdio();
    let end = serve(connection)?;
    io_threads
        .join()
        .map_err(|e| format!("the connection failed: {e}"))?;
    Ok(end)
}

/// Serve on any connection (standard I/O, or memory in tests).
pub fn serve(connection: Connection) -> Result<End, String> {
    let (id, params) = connection
        .initialize_start()
        .map_err(|e| format!("no initialize request: {e}"))?;
    let encoding = negotiate_encoding(&params);
    let root = root_of(&params);
    let settings = params
        .get("initializationOptions")
        .cloned()
        .unwrap_or(Value::Null);
    let encoding_name = match encoding {
        Encoding::Utf8 => "utf-8",
        Encoding::Utf16 => "utf-16",
    };
    let result = json!({
        "capabilities": {
            "positionEncoding": encoding_name,
            "textDocumentSync": {
                "openClose": true,
                "change": 2,
                "save": { "includeText": false },
            },
            "hoverProvider": true,
            "definitionProvider": true,
            "referencesProvider": true,
            "renameProvider": { "prepareProvider": true },
            "completionProvider": { "triggerCharacters": ["\"", ":", "'"] },
            "codeActionProvider": { "codeActionKinds": ["quickfix"] },
            "documentFormattingProvider": true,
        },
        "serverInfo": { "name": "tsacl", "version": env!("CARGO_PKG_VERSION") },
    });
    connection
        .initialize_finish(id, result)
        .map_err(|e| format!("the initialize handshake failed: {e}"))?;
    let (job_tx, job_rx) = crossbeam_channel::unbounded();
    let (outcome_tx, outcome_rx) = crossbeam_channel::unbounded();
    let worker = std::thread::Builder::new()
        .name("tsacl-check".into())
        .spawn(move || work(job_rx, outcome_tx))
        .map_err(|e| format!("cannot start the check thread: {e}"))?;
    let mut server = Server {
        sender: connection.sender.clone(),
        docs: Documents::default(),
        models: HashMap::new(),
        last_good: HashMap::new(),
        findings: HashMap::new(),
        published: HashMap::new(),
        slow: HashMap::new(),
        last_change: HashMap::new(),
        config: Arc::new(Config::default()),
        root,
        encoding,
        jobs: job_tx,
    };
    server.configure(&settings);
    let result = server.main_loop(&connection, &outcome_rx);
    drop(server); // closes the job channel: the worker ends
    let _ = worker.join();
    result
}

/// UTF-8 when the client offers it (no conversion), else UTF-16, the protocol's default.
fn negotiate_encoding(params: &Value) -> Encoding {
    let offered = params
        .pointer("/capabilities/general/positionEncodings")
        .and_then(Value::as_array);
    match offered {
        Some(list) if list.iter().any(|e| e == "utf-8") => Encoding::Utf8,
        _ => Encoding::Utf16,
    }
}

/// The workspace's folder: the first workspace folder, else `rootUri`, else `rootPath`.
fn root_of(params: &Value) -> Option<PathBuf> {
    let uri = params
        .pointer("/workspaceFolders/0/uri")
        .or_else(|| params.get("rootUri"))
        .and_then(Value::as_str)
        .and_then(|u| u.parse::<Uri>().ok());
    match uri {
        Some(u) => Some(documents::path_of(&u)),
        None => params
            .get("rootPath")
            .and_then(Value::as_str)
            .map(PathBuf::from),
    }
}

struct Scheduled {
    job: Job,
    not_before: Instant,
}

/// The worker: keep the newest job per check, run each when due.
fn work(jobs: Receiver<Scheduled>, outcomes: Sender<Outcome>) {
    let mut pending: Vec<Scheduled> = Vec::new();
    let add = |pending: &mut Vec<Scheduled>, s: Scheduled| {
        pending.retain(|p| p.job.unit != s.job.unit);
        pending.push(s);
    };
    loop {
        while let Ok(s) = jobs.try_recv() {
            add(&mut pending, s);
        }
        let now = Instant::now();
        if let Some(i) = pending.iter().position(|s| s.not_before <= now) {
            let s = pending.swap_remove(i);
            // A policy: what is quick to find is published first, then the slow stages
            // run on the same pass (the file is not read and validated twice).
            if let Unit::Policy(uri) = &s.job.unit {
                let mut gone = false;
                let full = guarded(&s.job, || {
                    super::analysis::run_staged(&s.job, uri, &mut |quick| {
                        if outcomes.send(quick).is_err() {
                            gone = true;
                            return false;
                        }
                        // Edited meanwhile: the full check of this version would be stale.
                        while let Ok(n) = jobs.try_recv() {
                            add(&mut pending, n);
                        }
                        !pending.iter().any(|p| p.job.unit == s.job.unit)
                    })
                });
                if gone {
                    return;
                }
                if let Some(Some(outcome)) = full
                    && outcomes.send(outcome).is_err()
                {
                    return;
                }
                continue;
            }
            if let Some(outcome) = guarded(&s.job, || super::analysis::run(&s.job))
                && outcomes.send(outcome).is_err()
            {
                return;
            }
            continue;
        }
        let next = match pending.iter().map(|s| s.not_before).min() {
            Some(due) => jobs.recv_deadline(due).map_err(|e| e.is_disconnected()),
            None => jobs.recv().map_err(|_| true),
        };
        match next {
            Ok(s) => add(&mut pending, s),
            Err(true) => return,
            Err(false) => {} // a job is due
        }
    }
}

/// `check`, with a panic reported on standard error (the editor's log) instead of ending
/// the server.
fn guarded<T>(job: &Job, check: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(check))
        .map_err(|panic| {
            eprintln!(
                "tsacl lsp: internal error while checking {:?}: {}",
                job.unit,
                panic_message(&*panic)
            )
        })
        .ok()
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// The answer to a request: `handle`'s result, its error, or, when it panics, an error
/// response naming the method.
fn answer(
    id: RequestId,
    method: &str,
    handle: impl FnOnce() -> Result<Value, (ErrorCode, String)>,
) -> Response {
    match catch_unwind(AssertUnwindSafe(handle)) {
        Ok(Ok(value)) => Response::new_ok(id, value),
        Ok(Err((code, message))) => Response::new_err(id, code as i32, message),
        Err(panic) => {
            let message = format!(
                "tsacl: internal error while answering {method}: {}",
                panic_message(&*panic)
            );
            eprintln!("{message}");
            Response::new_err(id, ErrorCode::InternalError as i32, message)
        }
    }
}

type Answer = Result<Value, (ErrorCode, String)>;

fn params<P: serde::de::DeserializeOwned>(value: Value) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(value).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
}

fn to_value(v: impl serde::Serialize) -> Answer {
    serde_json::to_value(v).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

struct Server {
    sender: Sender<Message>,
    docs: Documents,
    /// The model of each open document's current version.
    models: HashMap<Uri, (i32, Arc<Model>)>,
    /// The last model of each document that parsed (completion works mid-edit).
    last_good: HashMap<Uri, Arc<Model>>,
    /// Published findings per file, with the version of the buffer they are about.
    findings: HashMap<Uri, (Option<i32>, Vec<Finding>)>,
    /// The files each check last published to.
    published: HashMap<Unit, Vec<Uri>>,
    /// Per policy, the text of its last full check and what only the slow stages found:
    /// carried over into the quick check of the next version.
    slow: HashMap<Uri, (Arc<SourceFile>, Vec<Finding>)>,
    last_change: HashMap<Unit, Instant>,
    config: Arc<Config>,
    root: Option<PathBuf>,
    encoding: Encoding,
    jobs: Sender<Scheduled>,
}

impl Server {
    fn main_loop(
        &mut self,
        connection: &Connection,
        outcomes: &Receiver<Outcome>,
    ) -> Result<End, String> {
        loop {
            select! {
                recv(connection.receiver) -> message => {
                    let Ok(message) = message else { return Ok(End::Abrupt) }; // the client went away
                    match message {
                        Message::Request(req) => {
                            match connection.handle_shutdown(&req) {
                                Ok(true) => return Ok(End::Clean),
                                Ok(false) => {}
                                Err(e) => return Err(format!("shutdown: {e}")),
                            }
                            self.request(req);
                        }
                        Message::Notification(n) if n.method == "exit" => return Ok(End::Abrupt),
                        Message::Notification(n) => {
                            let method = n.method.clone();
                            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.notification(n))) {
                                eprintln!(
                                    "tsacl lsp: internal error while handling {method}: {}",
                                    panic_message(&*panic)
                                );
                            }
                        }
                        Message::Response(_) => {}
                    }
                }
                recv(outcomes) -> outcome => {
                    if let Ok(outcome) = outcome {
                        self.publish(outcome);
                    }
                }
            }
        }
    }

    fn send(&self, message: impl Into<Message>) {
        let _ = self.sender.send(message.into());
    }

    fn show(&self, kind: lsp_types::MessageType, message: String) {
        self.send(Notification::new(
            lsp_types::notification::ShowMessage::METHOD.into(),
            ShowMessageParams { typ: kind, message },
        ));
    }

    fn configure(&mut self, settings: &Value) {
        let config = Config::from_settings(settings, self.root.as_deref());
        for p in &config.problems {
            self.show(lsp_types::MessageType::WARNING, format!("tsacl: {p}"));
        }
        self.config = Arc::new(config);
    }

    // ---- notifications ----

    fn notification(&mut self, n: Notification) {
        use lsp_types::notification::*;
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else {
                    return;
                };
                let d = p.text_document;
                self.docs.open(d.uri.clone(), d.version, d.text);
                self.check_document(&d.uri);
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else {
                    return;
                };
                let uri = p.text_document.uri;
                let encoding = self.encoding;
                if self
                    .docs
                    .change(&uri, p.text_document.version, p.content_changes, encoding)
                    .is_some()
                {
                    self.models.remove(&uri);
                    self.check_document(&uri);
                }
            }
            DidSaveTextDocument::METHOD => {
                // Files on disk changed: projects that read them check again.
                if let Ok(p) = serde_json::from_value::<DidSaveTextDocumentParams>(n.params) {
                    self.check_document(&p.text_document.uri);
                }
                self.check_all(|u| matches!(u, Unit::Project(_)));
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else {
                    return;
                };
                let uri = p.text_document.uri;
                let unit = self.docs.get(&uri).and_then(|d| unit_of(d, &self.docs));
                self.docs.close(&uri);
                self.models.remove(&uri);
                self.last_good.remove(&uri);
                match unit {
                    Some(unit @ Unit::Project(_)) if self.open_in(&unit) => self.schedule(unit),
                    Some(unit) => self.clear(&unit),
                    None => {}
                }
            }
            DidChangeConfiguration::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidChangeConfigurationParams>(n.params)
                    && Config::present(&p.settings)
                {
                    self.configure(&p.settings);
                    self.check_all(|_| true);
                }
            }
            _ => {}
        }
    }

    /// Does any open document belong to this check?
    fn open_in(&self, unit: &Unit) -> bool {
        self.docs
            .iter()
            .any(|d| unit_of(d, &self.docs).as_ref() == Some(unit))
    }

    fn check_document(&mut self, uri: &Uri) {
        let Some(doc) = self.docs.get(uri) else {
            return;
        };
        match unit_of(doc, &self.docs) {
            Some(unit) => self.schedule(unit),
            None => {
                // Not (or no longer) a policy: take back what was published about it.
                self.clear(&Unit::Policy(uri.clone()));
            }
        }
    }

    fn check_all(&mut self, which: impl Fn(&Unit) -> bool) {
        let mut units: Vec<Unit> = self
            .docs
            .iter()
            .filter_map(|d| unit_of(d, &self.docs))
            .filter(|u| which(u))
            .collect();
        units.sort_by_key(|u| format!("{u:?}"));
        units.dedup();
        for u in units {
            self.schedule(u);
        }
    }

    fn schedule(&mut self, unit: Unit) {
        let now = Instant::now();
        let previous = self.last_change.insert(unit.clone(), now);
        let delay = match previous {
            Some(t) if now.duration_since(t) < DEBOUNCE => DEBOUNCE,
            _ => Duration::ZERO,
        };
        let inputs: Vec<Input> = self
            .docs
            .iter()
            .filter(|d| match &unit {
                Unit::Policy(uri) => d.uri == *uri,
                // Only the project's own files: an edit elsewhere must not make its
                // result stale.
                Unit::Project(_) => unit_of(d, &self.docs).as_ref() == Some(&unit),
            })
            .map(|d| Input {
                uri: d.uri.clone(),
                version: d.version,
                file: d.file.clone(),
            })
            .collect();
        let _ = self.jobs.send(Scheduled {
            job: Job {
                unit,
                inputs,
                config: self.config.clone(),
                encoding: self.encoding,
            },
            not_before: now + delay,
        });
    }

    /// Publish nothing for every file a check published to.
    fn clear(&mut self, unit: &Unit) {
        for uri in self.published.remove(unit).unwrap_or_default() {
            self.findings.remove(&uri);
            self.slow.remove(&uri);
            self.send_diagnostics(uri, Vec::new(), None);
        }
    }

    fn send_diagnostics(
        &self,
        uri: Uri,
        diagnostics: Vec<lsp_types::Diagnostic>,
        version: Option<i32>,
    ) {
        self.send(Notification::new(
            lsp_types::notification::PublishDiagnostics::METHOD.into(),
            PublishDiagnosticsParams {
                uri,
                diagnostics,
                version,
            },
        ));
    }

    fn publish(&mut self, outcome: Outcome) {
        let current = outcome
            .versions
            .iter()
            .all(|(uri, v)| self.docs.get(uri).map(|d| d.version) == Some(*v));
        if !current || !self.open_in(&outcome.unit) {
            return; // a newer check is coming, or nobody is looking
        }
        let uris: Vec<Uri> = outcome.files.iter().map(|(u, _)| u.clone()).collect();
        for old in self.published.remove(&outcome.unit).unwrap_or_default() {
            if !uris.contains(&old) {
                self.findings.remove(&old);
                self.send_diagnostics(old, Vec::new(), None);
            }
        }
        for (uri, mut findings) in outcome.files {
            let doc = self.docs.get(&uri);
            let version = doc.map(|d| d.version);
            if outcome.depth == Depth::Quick
                && let (Some(doc), Some((old, slow))) = (doc, self.slow.get(&uri))
            {
                findings.extend(carry_over(old, slow, &doc.file, self.encoding));
                findings.sort_by_key(|f| (f.span.start, f.code));
            }
            // Serialized from the findings kept for requests, without copying them.
            #[derive(serde::Serialize)]
            struct Publish<'a> {
                uri: &'a Uri,
                diagnostics: Vec<&'a lsp_types::Diagnostic>,
                version: Option<i32>,
            }
            self.send(Notification::new(
                lsp_types::notification::PublishDiagnostics::METHOD.into(),
                Publish {
                    uri: &uri,
                    diagnostics: findings.iter().map(|f| &f.lsp).collect(),
                    version,
                },
            ));
            self.findings.insert(uri, (version, findings));
        }
        if let (Unit::Policy(uri), Some(slow)) = (&outcome.unit, outcome.slow) {
            self.slow.insert(uri.clone(), slow);
        }
        self.published.insert(outcome.unit, uris);
    }

    // ---- requests ----

    fn request(&mut self, req: Request) {
        let method = req.method.clone();
        let id = req.id.clone();
        let response = answer(id, &method, || self.handle(req));
        self.send(response);
    }

    fn handle(&mut self, req: Request) -> Answer {
        use lsp_types::request::*;
        match req.method.as_str() {
            HoverRequest::METHOD => {
                let p: HoverParams = params(req.params)?;
                to_value(self.hover(&p.text_document_position_params))
            }
            GotoDefinition::METHOD => {
                let p: GotoDefinitionParams = params(req.params)?;
                to_value(self.definition(&p.text_document_position_params))
            }
            References::METHOD => {
                let p: ReferenceParams = params(req.params)?;
                to_value(self.references(&p))
            }
            PrepareRenameRequest::METHOD => {
                let p: TextDocumentPositionParams = params(req.params)?;
                to_value(self.prepare_rename(&p))
            }
            Rename::METHOD => {
                let p: RenameParams = params(req.params)?;
                self.rename(&p).and_then(to_value)
            }
            Completion::METHOD => {
                let p: CompletionParams = params(req.params)?;
                to_value(self.completion(&p))
            }
            CodeActionRequest::METHOD => {
                let p: CodeActionParams = params(req.params)?;
                to_value(self.code_actions(&p))
            }
            Formatting::METHOD => {
                let p: DocumentFormattingParams = params(req.params)?;
                to_value(self.format(&p))
            }
            _ => Err((
                ErrorCode::MethodNotFound,
                format!("tsacl lsp does not handle {}", req.method),
            )),
        }
    }

    /// The document and the model of its current version.
    fn model(&mut self, uri: &Uri) -> Option<Arc<Model>> {
        let doc = self.docs.get(uri)?;
        let model = match self.models.get(uri) {
            Some((v, m)) if *v == doc.version => m.clone(),
            _ => {
                let m = Arc::new(Model::build(doc));
                if m.tree.is_some() {
                    self.last_good.insert(uri.clone(), m.clone());
                }
                self.models.insert(uri.clone(), (doc.version, m.clone()));
                m
            }
        };
        Some(model)
    }

    fn offset(&self, doc: &Document, position: lsp_types::Position) -> usize {
        documents::offset(&doc.file, position, self.encoding)
    }

    /// The findings published for this version of a document.
    fn current_findings(&self, doc: &Document) -> &[Finding] {
        match self.findings.get(&doc.uri) {
            Some((Some(v), list)) if *v == doc.version => list,
            _ => &[],
        }
    }

    /// The intents project a document belongs to, compiled through the open buffers.
    fn project(&self, doc: &Document) -> Option<ProjectView> {
        match unit_of(doc, &self.docs)? {
            Unit::Project(intents) => ProjectView::load(&intents, &self.docs),
            Unit::Policy(_) => None,
        }
    }

    fn hover(&mut self, p: &TextDocumentPositionParams) -> Option<Hover> {
        let model = self.model(&p.text_document.uri)?;
        let doc = self.docs.get(&p.text_document.uri)?;
        model.tree.as_ref()?;
        let offset = self.offset(doc, p.position);
        let project = self.project(doc);
        let ctx = Context {
            model: &model,
            findings: self.current_findings(doc),
            inventory: self.config.options.inventory.as_ref(),
            project: project.as_ref(),
        };
        let text = hover::hover(&ctx, offset)?;
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: text,
            }),
            range: None,
        })
    }

    fn definition(&mut self, p: &TextDocumentPositionParams) -> Option<GotoDefinitionResponse> {
        let uri = &p.text_document.uri;
        let model = self.model(uri)?;
        let doc = self.docs.get(uri)?;
        model.tree.as_ref()?;
        let offset = self.offset(doc, p.position);
        let project = self.project(doc);
        let in_output = project
            .as_ref()
            .is_some_and(|v| documents::same_path(&v.project.output_path, &doc.path));
        let found = navigation::definition(
            &model,
            uri,
            offset,
            project.as_ref(),
            in_output,
            self.encoding,
        );
        (!found.is_empty()).then_some(GotoDefinitionResponse::Array(found))
    }

    fn references(&mut self, p: &ReferenceParams) -> Option<Vec<lsp_types::Location>> {
        let uri = &p.text_document_position.text_document.uri;
        let model = self.model(uri)?;
        let doc = self.docs.get(uri)?;
        let offset = self.offset(doc, p.text_document_position.position);
        let found = navigation::references(
            &model,
            uri,
            offset,
            p.context.include_declaration,
            self.encoding,
        );
        (!found.is_empty()).then_some(found)
    }

    fn prepare_rename(&mut self, p: &TextDocumentPositionParams) -> Option<PrepareRenameResponse> {
        let model = self.model(&p.text_document.uri)?;
        let doc = self.docs.get(&p.text_document.uri)?;
        let offset = self.offset(doc, p.position);
        let (span, placeholder) = navigation::prepare_rename(&model, offset)?;
        Some(PrepareRenameResponse::RangeWithPlaceholder {
            range: documents::range(&model.file, span, self.encoding),
            placeholder,
        })
    }

    fn rename(&mut self, p: &RenameParams) -> Result<Option<WorkspaceEdit>, (ErrorCode, String)> {
        let uri = &p.text_document_position.text_document.uri;
        let (Some(model), Some(doc)) = (self.model(uri), self.docs.get(uri)) else {
            return Ok(None);
        };
        let offset = self.offset(doc, p.text_document_position.position);
        match navigation::rename(&model, uri, offset, &p.new_name, self.encoding) {
            Ok(changes) => Ok(changes.map(WorkspaceEdit::new)),
            Err(why) => Err((ErrorCode::InvalidParams, why)),
        }
    }

    fn completion(&mut self, p: &CompletionParams) -> Option<CompletionResponse> {
        let uri = &p.text_document_position.text_document.uri;
        let model = self.model(uri)?;
        let doc = self.docs.get(uri)?;
        let kind = doc.kind;
        if kind == Kind::Other {
            return None;
        }
        let offset = self.offset(doc, p.text_document_position.position);
        let names = if model.tree.is_some() {
            Some(model.clone())
        } else {
            self.last_good.get(uri).cloned()
        };
        let items = completion::complete(
            &model.file.text,
            offset,
            names.as_deref(),
            kind == Kind::Intents,
        );
        let items = items
            .into_iter()
            .map(|i| CompletionItem {
                label: i.label.clone(),
                kind: Some(match i.kind {
                    ItemKind::Field => CompletionItemKind::FIELD,
                    ItemKind::Name => CompletionItemKind::REFERENCE,
                    ItemKind::Value => CompletionItemKind::VALUE,
                }),
                detail: Some(i.detail),
                filter_text: Some(i.insert.clone()),
                text_edit: Some(lsp_types::CompletionTextEdit::Edit(TextEdit::new(
                    documents::range(&model.file, i.replace, self.encoding),
                    i.insert,
                ))),
                ..Default::default()
            })
            .collect();
        Some(CompletionResponse::Array(items))
    }

    fn code_actions(&mut self, p: &CodeActionParams) -> Option<Vec<CodeActionOrCommand>> {
        let uri = &p.text_document.uri;
        let model = self.model(uri)?;
        let doc = self.docs.get(uri)?;
        model.tree.as_ref()?;
        let selected = documents::span(&model.file, p.range, self.encoding);
        let suppressible = matches!(unit_of(doc, &self.docs), Some(Unit::Policy(_)));
        let found = actions::actions(
            &model,
            self.current_findings(doc),
            selected,
            uri,
            suppressible,
            self.encoding,
        );
        Some(
            found
                .into_iter()
                .map(CodeActionOrCommand::CodeAction)
                .collect(),
        )
    }

    fn format(&mut self, p: &DocumentFormattingParams) -> Option<Vec<TextEdit>> {
        let doc = self.docs.get(&p.text_document.uri)?;
        if doc.kind != Kind::Policy {
            return None;
        }
        formatting::format(&doc.file, self.encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_handler_answers_an_error() {
        let r = answer(RequestId::from(7), "textDocument/hover", || {
            panic!("boom");
        });
        let e = r.response_result.expect_err("an error response");
        assert_eq!(e.code, ErrorCode::InternalError as i32);
        assert!(e.message.contains("textDocument/hover") && e.message.contains("boom"));
        let r = answer(RequestId::from(8), "x", || Ok(json!(null)));
        assert_eq!(r.response_result.ok(), Some(Value::Null));
    }

    #[test]
    fn encodings() {
        let offer = |list: Value| json!({"capabilities": {"general": {"positionEncodings": list}}});
        assert_eq!(
            negotiate_encoding(&offer(json!(["utf-16", "utf-8"]))),
            Encoding::Utf8
        );
        assert_eq!(
            negotiate_encoding(&offer(json!(["utf-32"]))),
            Encoding::Utf16
        );
        assert_eq!(negotiate_encoding(&json!({})), Encoding::Utf16);
    }
}
