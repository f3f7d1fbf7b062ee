// Tests of the Flamenco job type under Node (`node --test farm/flamenco/`), against a small stand-in
// of Flamenco's job-authoring API (author.Task / author.Command / job.addTask) that records what the
// job compiler creates. The real Manager runs the script in its own JavaScript VM the same way:
// top-level JOB_TYPE and compileJob(job), with `author` provided as a global.
"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const test = require("node:test");
const vm = require("node:vm");

const SCRIPT = fs.readFileSync(path.join(__dirname, "vggt-reconstruct.js"), "utf8");

function load() {
    const author = {
        Task: (name, type) => ({ name, type, commands: [], addCommand(cmd) { this.commands.push(cmd); } }),
        Command: (name, parameters) => ({ name, parameters }),
    };
    const context = vm.createContext({ author });
    vm.runInContext(SCRIPT, context, { filename: "vggt-reconstruct.js" });
    return { JOB_TYPE: vm.runInContext("JOB_TYPE", context), compileJob: context.compileJob };
}

// Arrays made inside the VM have its Array prototype; compare plain copies.
const plain = (value) => JSON.parse(JSON.stringify(value));

function compile(settings) {
    const job = { settings, tasks: [], addTask(task) { this.tasks.push(task); } };
    load().compileJob(job);
    return plain(job.tasks);
}

// The command line a Flamenco Worker builds for blender-render: {exe} {exeArgs} {argsBefore} {blendfile} {args}
// (after the Manager has replaced {blender} and {blenderArgs}, here by their defaults).
function commandLine(cmd) {
    const p = cmd.parameters;
    const exe = p.exe.replace("{blender}", "blender");
    const exeArgs = p.exeArgs.replace("{blenderArgs}", "-b -y").split(" ");
    return [exe].concat(exeArgs, p.argsBefore, [p.blendfile], p.args);
}

const SETTINGS = {
    shot_manifest: "/proj/shots.csv",
    shots: "0-2,7",
    output_dir: "/proj/vggt out",
    model_source: "/models/vggt.safetensors",
    device: "cuda",
    frame_options: "--max-frames 40 --fps 4",
    extra_args: "--export-colmap colmap --name=\"hero shot\" --render 'preview 1.png'",
};

test("JOB_TYPE declares the settings the submitter fills in", () => {
    const JOB_TYPE = plain(load().JOB_TYPE);
    assert.equal(JOB_TYPE.label, "VGGT Reconstruct");
    assert.deepEqual(JOB_TYPE.settings.map((s) => s.key),
        ["shot_manifest", "shots", "output_dir", "model_source", "device", "frame_options", "extra_args"]);
    for (const key of ["shot_manifest", "shots", "output_dir"]) {
        assert.equal(JOB_TYPE.settings.find((s) => s.key === key).required, true, key);
    }
    assert.deepEqual(JOB_TYPE.settings.find((s) => s.key === "device").choices, ["auto", "cuda", "mps", "cpu"]);
});

test("one blender task per shot, with the exact command line", () => {
    const tasks = compile(SETTINGS);
    assert.deepEqual(tasks.map((t) => [t.name, t.type, t.commands.length]),
        [["shot-0", "blender", 1], ["shot-1", "blender", 1], ["shot-2", "blender", 1], ["shot-7", "blender", 1]]);
    assert.equal(tasks[3].commands[0].name, "blender-render");
    assert.deepEqual(commandLine(tasks[3].commands[0]), [
        "blender", "-b", "-y", "-c", "vggt",
        "--manifest", "/proj/shots.csv", "--shot", "7",
        "--out", "/proj/vggt out", "--device", "cuda", "--model", "/models/vggt.safetensors",
        "--max-frames", "40", "--fps", "4",
        "--export-colmap", "colmap", "--name=hero shot", "--render", "preview 1.png",
    ]);
});

test("empty optional settings add no options", () => {
    const tasks = compile({ shot_manifest: "/s.csv", shots: "3", output_dir: "/o" });
    assert.deepEqual(tasks.map((t) => t.name), ["shot-3"]);
    assert.deepEqual(tasks[0].commands[0].parameters.args,
        ["--manifest", "/s.csv", "--shot", "3", "--out", "/o", "--device", "auto"]);
});

test("an unreadable shot list fails the submission with a message", () => {
    for (const shots of ["", "a-b", "5-2", "1,,2"]) {
        assert.throws(() => compile({ shot_manifest: "/s.csv", shots, output_dir: "/o" }), /^shots: /, shots);
    }
});
