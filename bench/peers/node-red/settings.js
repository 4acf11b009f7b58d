// Node-RED settings of the bench's Node-RED peer (bench/run.py starts it headless).
// Ports, database and the limits file come from the environment, so one flow serves
// every run; the limits (sensor -> max °C) are handed to the function node as a global.
const fs = require("fs");

module.exports = {
    uiHost: "127.0.0.1",
    uiPort: parseInt(process.env.COLDCHAIN_BENCH_NODE_RED_PORT || "1880", 10),
    credentialSecret: false,
    functionGlobalContext: {
        limits: JSON.parse(fs.readFileSync(process.env.COLDCHAIN_BENCH_LIMITS, "utf8")),
    },
    logging: { console: { level: "info", metrics: false, audit: false } },
    diagnostics: { enabled: false },
    telemetry: { enabled: false },
    editorTheme: { projects: { enabled: false } },
};
