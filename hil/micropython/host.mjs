// Host one MicroPython (WebAssembly port) for a HIL scenario, stepped line by line.
//
//   node host.mjs MICROPYTHON_MJS LIB_DIR BOOT_PY
//
// MICROPYTHON_MJS is the npm package's micropython.mjs; LIB_DIR is copied into
// MicroPython's file system at /lib (on sys.path); BOOT_PY runs once and must
// define `_hil_step(line)`. Then each line on stdin is handed to
// `_hil_step(line)`, which prints exactly one line (the reply) on stdout.
// A Python exception ends the host with status 1 and the traceback on stderr.

import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

function copyTree(mp, hostDir, mpDir) {
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const hostPath = path.join(hostDir, entry.name);
    const mpPath = `${mpDir}/${entry.name}`;
    if (fs.statSync(hostPath).isDirectory()) {
      if (entry.name === "__pycache__") continue;
      mp.FS.mkdir(mpPath);
      copyTree(mp, hostPath, mpPath);
    } else if (!entry.name.endsWith(".pyc")) {
      mp.FS.writeFile(mpPath, fs.readFileSync(hostPath));
    }
  }
}

async function main() {
  const [entry, libDir, bootPath] = process.argv.slice(2);
  if (!entry || !libDir || !bootPath) {
    process.stderr.write("usage: node host.mjs MICROPYTHON_MJS LIB_DIR BOOT_PY\n");
    return 2;
  }
  const { loadMicroPython } = await import(pathToFileURL(entry).href);
  // Output is collected per step and written as whole lines.
  let out = [];
  const mp = await loadMicroPython({
    stdout: (data) => { for (const b of data) out.push(b); },
    stderr: (data) => process.stderr.write(Buffer.from(data)),
    linebuffer: false,
  });
  mp.FS.mkdir("/lib");
  copyTree(mp, libDir, "/lib");
  mp.FS.mkdir("/flash");
  const flush = () => {
    if (out.length) process.stdout.write(Buffer.from(out));
    out = [];
  };
  try {
    mp.runPython("import sys\nsys.path.insert(0, '/lib')\ndel sys\n");
    mp.runPython(fs.readFileSync(bootPath, "utf8"));
    flush();
    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of rl) {
      if (!line) continue;
      mp.runPython(`_hil_step(${JSON.stringify(line)})`);
      flush();
    }
  } catch (error) {
    flush();
    process.stderr.write(String(error && error.message ? error.message : error) + "\n");
    return 1;
  }
  return 0;
}

main().then(
  (status) => { process.exitCode = status; },
  (error) => { process.stderr.write(`host.mjs: ${error && error.stack ? error.stack : error}\n`); process.exitCode = 2; },
);
