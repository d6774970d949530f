// Run one Python script inside the real MicroPython WebAssembly port.
//
//   node run.mjs SCRIPT.py [HOST_LIB_DIR]
//
// HOST_LIB_DIR (optional) is copied, recursively, into the MicroPython virtual
// file system at /lib, and '/lib' is put on sys.path, so the script can import
// the modules in it exactly as it would from /lib on a board.
//
// Exit status: 0 when the script ran to the end (or called sys.exit(0)),
// 1 when it raised (the MicroPython traceback goes to stderr), the given code
// for sys.exit(n), 2 for bad usage or a failure of the runner itself.

import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const LIB = "/lib";

// MicroPython hands output over one byte at a time; collect the bytes and hand
// whole lines (and whatever is left at the end) to the real stream.
function byteSink(stream) {
  let pending = [];
  const flush = () => {
    if (pending.length > 0) {
      stream.write(Buffer.from(pending));
      pending = [];
    }
  };
  const put = (data) => {
    for (const byte of data) {
      pending.push(byte);
      if (byte === 10) flush();
    }
  };
  return { put, flush };
}

function copyTree(mp, hostDir, mpDir) {
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const hostPath = path.join(hostDir, entry.name);
    const mpPath = `${mpDir}/${entry.name}`;
    const stat = fs.statSync(hostPath); // follows symlinks
    if (stat.isDirectory()) {
      // CPython's byte code is of no use to MicroPython.
      if (entry.name === "__pycache__") continue;
      mp.FS.mkdir(mpPath);
      copyTree(mp, hostPath, mpPath);
    } else if (stat.isFile()) {
      if (entry.name.endsWith(".pyc")) continue;
      mp.FS.writeFile(mpPath, fs.readFileSync(hostPath));
    }
  }
}

// A SystemExit reaches JavaScript as a PythonError whose message is the
// formatted exception; its last line reads "SystemExit: <code>" (or just
// "SystemExit" for sys.exit()).
function systemExitCode(message) {
  const lines = String(message).trim().split("\n");
  const last = lines[lines.length - 1].trim();
  const match = /^SystemExit(?::\s*(.*))?$/.exec(last);
  const arg = match && match[1] !== undefined ? match[1].trim() : "";
  if (arg === "" || arg === "None") return { code: 0, text: "" };
  if (/^-?\d+$/.test(arg)) return { code: Number(arg) & 0xff, text: "" };
  return { code: 1, text: arg + "\n" }; // sys.exit("message") prints the message
}

async function main() {
  const [scriptPath, libDir] = process.argv.slice(2);
  if (!scriptPath) {
    process.stderr.write("usage: node run.mjs SCRIPT.py [HOST_LIB_DIR]\n");
    return 2;
  }
  const source = fs.readFileSync(scriptPath, "utf8");

  const out = byteSink(process.stdout);
  const err = byteSink(process.stderr);
  const mp = await loadMicroPython({
    stdout: out.put,
    stderr: err.put,
    linebuffer: false,
  });

  if (libDir) {
    if (!fs.statSync(libDir).isDirectory()) {
      process.stderr.write(`run.mjs: not a directory: ${libDir}\n`);
      return 2;
    }
    try {
      mp.FS.mkdir(LIB);
    } catch {
      // already there
    }
    copyTree(mp, libDir, LIB);
  }

  let status = 0;
  try {
    mp.runPython(
      "import sys\n" +
        `if '${LIB}' not in sys.path:\n` +
        `    sys.path.insert(0, '${LIB}')\n` +
        "del sys\n",
    );
    mp.runPython(source);
  } catch (error) {
    if (error && error.name === "PythonError") {
      out.flush();
      if (error.type === "SystemExit") {
        const { code, text } = systemExitCode(error.message);
        if (text) process.stderr.write(text);
        status = code;
      } else {
        let message = String(error.message);
        if (!message.endsWith("\n")) message += "\n";
        process.stderr.write(message);
        status = 1;
      }
    } else {
      throw error;
    }
  } finally {
    out.flush();
    err.flush();
  }
  return status;
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (error) => {
    process.stderr.write(`run.mjs: ${error && error.stack ? error.stack : error}\n`);
    process.exitCode = 2;
  },
);
