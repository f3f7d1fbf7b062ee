// A stand-in of Flamenco 3's side of the job-type contract, to run farm/flamenco/vggt-reconstruct.js under
// Node. It tests only our side of that contract, as Flamenco's own code defines it (read, not run):
//  - internal/manager/job_compilers/author.go: author.Task(name, type) trims both and refuses empty ones;
//    author.Command(name, parameters, totalStepCount); task.addCommand, job.addTask (Go methods, exported
//    to the script's VM with a lower-case first letter); JOB_TYPE and compileJob(job) are script globals.
//  - internal/manager/api_impl/varrepl.go: at submission, replaceTwoWayVariables turns a setting's value
//    that starts with a two-way variable's value (for the submitter's platform) into "{name}..."; when a
//    Worker takes a task, replaceTaskVariables expands "{name}" in every string parameter and every string
//    element of an array parameter, for the Worker's platform.
//  - internal/worker/command_blender.go: blender-render runs exe with split(exeArgs), argsBefore, the
//    blendfile only when it is not empty, then args, as an argument list (no shell).
// Nothing here is Flamenco's own code; a real Manager was not available to these tests.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const SCRIPT = path.join(__dirname, "..", "..", "farm", "flamenco", "vggt-reconstruct.js");

function author() {
    const trimmedOrThrow = (value, what) => {
        const text = String(value).trim();
        if (text === "") throw new Error(`author.Task(name, type): ${what} is required`);
        return text;
    };
    return {
        Task(name, type) {
            return {
                name: trimmedOrThrow(name, "name"), type: trimmedOrThrow(type, "type"), priority: 50, commands: [],
                addCommand(cmd) { this.commands.push(cmd); },
                addDependency() { throw new Error("no dependencies expected"); },
            };
        },
        Command(name, parameters, totalStepCount = 0) { return { name, parameters, totalStepCount }; },
    };
}

// The job type as the Manager loads it: the script run in its own VM with `author` (and `print`) global.
function load() {
    const context = vm.createContext({ author: author(), print: () => {} });
    vm.runInContext(fs.readFileSync(SCRIPT, "utf8"), context, { filename: "vggt-reconstruct.js" });
    return { JOB_TYPE: JSON.parse(JSON.stringify(vm.runInContext("JOB_TYPE", context))), compileJob: context.compileJob };
}

// variables: {name: {platform: value}}; twoWay: names of two-way variables.
function twoWayToVariables(value, variables, twoWay, platform) {
    for (const name of twoWay) {
        const prefix = variables[name][platform];
        if (typeof value === "string" && prefix && value.startsWith(prefix)) return `{${name}}` + value.slice(prefix.length);
    }
    return value;
}

function expand(value, variables, platform) {
    if (typeof value !== "string") return value;
    return value.replace(/\{([^{}]+)\}/g, (m, name) => (variables[name] ? variables[name][platform] : m));
}

// Submit `settings` from `submitter`, compile, and return each task with the argv a `worker` would run.
function submit(settings, { variables = {}, twoWay = [], submitter = "linux", worker = "linux" } = {}) {
    const submitted = {};
    for (const [key, value] of Object.entries(settings)) submitted[key] = twoWayToVariables(value, variables, twoWay, submitter);
    const tasks = [];
    const job = { settings: submitted, addTask(task) { tasks.push(task); } };
    load().compileJob(job);
    // plain copies: arrays made inside the job type's VM have that VM's Array prototype
    return JSON.parse(JSON.stringify(tasks.map((task) => ({
        name: task.name, type: task.type,
        commands: task.commands.map((cmd) => {
            const p = {};
            for (const [key, value] of Object.entries(cmd.parameters)) {
                p[key] = Array.isArray(value) ? value.map((v) => expand(v, variables, worker)) : expand(value, variables, worker);
            }
            // exeArgs is split like a shell line by the Worker (google/shlex); the values used here have no quotes
            const exeArgs = p.exeArgs.split(/\s+/).filter((a) => a !== "");
            return { name: cmd.name, parameters: p,
                     argv: [p.exe, ...exeArgs, ...p.argsBefore, ...(p.blendfile !== "" ? [p.blendfile] : []), ...p.args] };
        }),
    }))));
}

module.exports = { load, submit };

// `node flamenco_contract.js SETTINGS_JSON`: print the first task's worker argv as JSON (used by pytest).
if (require.main === module) {
    const tasks = submit(JSON.parse(process.argv[2]), { variables: { blender: { linux: "blender" },
                                                                      blenderArgs: { linux: "-b -y" } } });
    process.stdout.write(JSON.stringify(tasks[0].commands[0].argv));
}
