// Loads the bundled VS Code extension (argv[2]) under node with a stand-in `vscode`
// module, activates it with `tsacl.path` set to argv[3], and prints, as JSON, its
// document selector, its install commands and the error messages it showed. What the
// stand-in does not define is an inert object, so the language client's own module
// loads; tests/lsp.rs runs this.
const Module = require("module");

const messages = [];
const inert = () =>
  new Proxy(function () {}, {
    get: (_, key) => (key === "then" ? undefined : inert()),
    apply: () => inert(),
    construct: () => inert(),
  });
const disposable = { dispose() {} };
const vscode = {
  workspace: {
    getConfiguration: () => ({ get: (key, fallback) => (key === "path" ? process.argv[3] : fallback) }),
    onDidChangeConfiguration: () => disposable,
    workspaceFolders: undefined,
  },
  window: {
    showErrorMessage: async (message) => {
      messages.push(message);
      return undefined;
    },
  },
  commands: { registerCommand: () => disposable, executeCommand: async () => undefined },
  languages: { setTextDocumentLanguage: async () => undefined },
  env: { openExternal: async () => true },
  Uri: { parse: (s) => s },
};
const stand_in = new Proxy(vscode, { get: (target, key) => (key in target ? target[key] : inert()) });
const load = Module._load;
Module._load = function (request, ...rest) {
  return request === "vscode" ? stand_in : load.call(this, request, ...rest);
};

const extension = require(process.argv[2]);
extension
  .activate({ subscriptions: [] })
  .then(() => {
    console.log(
      JSON.stringify({
        selector: extension.DOCUMENT_SELECTOR,
        install: extension.INSTALL_COMMANDS,
        messages,
      }),
    );
  })
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
