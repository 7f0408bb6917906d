// Starts `tsacl lsp` for Tailscale policy files (*.hujson, policy-shaped *.json) and
// intents (*.json5). The server decides what each file is; every check and answer comes
// from it, so the editor says exactly what `tsacl check` says.
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;

/** The settings `tsacl lsp` reads (the same as `tsacl check`'s options). */
function settings(): object {
  const c = vscode.workspace.getConfiguration("tsacl");
  return {
    inventory: c.get<string>("inventory", ""),
    tailnetDomains: c.get<string[]>("tailnetDomains", []),
    select: c.get<string[]>("select", []),
    ignore: c.get<string[]>("ignore", []),
    severity: c.get<object>("severity", {}),
  };
}

async function start(): Promise<void> {
  const command = vscode.workspace.getConfiguration("tsacl").get<string>("path", "tsacl");
  const server: ServerOptions = {
    command,
    args: ["lsp"],
    transport: TransportKind.stdio,
  };
  const options: LanguageClientOptions = {
    // *.hujson opens as JSON with comments (package.json maps it), *.json5 as JSON5.
    documentSelector: [
      { scheme: "file", language: "json5" },
      { scheme: "file", language: "json" },
      { scheme: "file", language: "jsonc" },
    ],
    initializationOptions: settings(),
    // Changes to the other settings reach the server as workspace/didChangeConfiguration.
    synchronize: { configurationSection: "tsacl" },
  };
  client = new LanguageClient("tsacl", "tsacl", server, options);
  await client.start();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      // Another executable: start it instead.
      if (e.affectsConfiguration("tsacl.path")) {
        await client?.stop();
        await start();
      }
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
