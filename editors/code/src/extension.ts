// Starts `tsacl lsp` for Tailscale policy files and tsacl's intents file. The extension
// activates where there is one (a `*.hujson` or `tailnet.json5` in the workspace, or a
// file opened as HuJSON), not for every JSON file. The server decides what each file is;
// every check and answer comes from it, so the editor says exactly what `tsacl check` says.
import * as fs from "fs";
import * as path from "path";
import * as vscode from "vscode";
import {
  DocumentSelector,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

/**
 * The documents the server is given: HuJSON policies (this extension's own language id,
 * so VS Code's JSON checker never sees them and their comments and trailing commas are
 * not warned about), the intents file, and, once the extension is active, JSON files
 * (the server checks those that name a policy section and leaves the others alone).
 */
export const DOCUMENT_SELECTOR: DocumentSelector = [
  { scheme: "file", language: "hujson" },
  { scheme: "file", language: "json5", pattern: "**/tailnet.json5" },
  { scheme: "file", language: "json" },
];

/** How to install tsacl, shown when it cannot be started. */
export const INSTALL_COMMANDS = [
  "pipx install tsacl",
  "pip install tsacl",
  "cargo install --locked --git https://github.com/tsacl/tsacl tsacl",
];

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

/** `command` as the system would find it: a path, or a name looked up on PATH. */
function resolve(command: string): string | undefined {
  const extensions =
    process.platform === "win32" ? (process.env.PATHEXT ?? ".EXE;.CMD").split(";") : [""];
  const withExtensions = (file: string) => [
    file,
    ...extensions.filter((ext) => ext !== "").map((ext) => file + ext.toLowerCase()),
  ];
  const isFile = (p: string) => {
    try {
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (path.isAbsolute(command) || command.includes("/") || command.includes("\\")) {
    const base = path.resolve(
      vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd(),
      command,
    );
    return withExtensions(base).find(isFile);
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const found = dir ? withExtensions(path.join(dir, command)).find(isFile) : undefined;
    if (found) {
      return found;
    }
  }
  return undefined;
}

async function notInstalled(command: string, why: string): Promise<void> {
  const message =
    `tsacl: cannot start \`${command} lsp\` (${why}). Install tsacl with one of: ` +
    INSTALL_COMMANDS.map((c) => `\`${c}\``).join(", ") +
    "; or set `tsacl.path` to the executable.";
  const choice = await vscode.window.showErrorMessage(message, "Open settings", "Install page");
  if (choice === "Open settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "tsacl.path");
  } else if (choice === "Install page") {
    await vscode.env.openExternal(vscode.Uri.parse("https://github.com/tsacl/tsacl#install"));
  }
}

async function start(): Promise<void> {
  const command = vscode.workspace.getConfiguration("tsacl").get<string>("path", "tsacl");
  const executable = resolve(command);
  if (!executable) {
    await notInstalled(command, "not found on PATH");
    return;
  }
  const server: ServerOptions = {
    command: executable,
    args: ["lsp"],
    transport: TransportKind.stdio,
  };
  const options: LanguageClientOptions = {
    documentSelector: DOCUMENT_SELECTOR,
    initializationOptions: settings(),
    // Changes to the other settings reach the server as workspace/didChangeConfiguration.
    synchronize: { configurationSection: "tsacl" },
  };
  client = new LanguageClient("tsacl", "tsacl", server, options);
  try {
    await client.start();
  } catch (e) {
    client = undefined;
    await notInstalled(command, e instanceof Error ? e.message : String(e));
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      // Another executable: start it instead.
      if (e.affectsConfiguration("tsacl.path")) {
        await client?.stop();
        client = undefined;
        await start();
      }
    }),
    // A policy written as JSON (or opened as anything else): check it as HuJSON.
    vscode.commands.registerCommand("tsacl.checkAsPolicy", async () => {
      const editor = vscode.window.activeTextEditor;
      if (editor) {
        await vscode.languages.setTextDocumentLanguage(editor.document, "hujson");
      }
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
