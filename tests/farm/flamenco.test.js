// The Flamenco job type (farm/flamenco/vggt-reconstruct.js) against Flamenco 3's documented job-type
// contract (`node --test tests/farm/`; the contract's stand-in and its sources: flamenco_contract.js).
"use strict";
const assert = require("node:assert/strict");
const test = require("node:test");
const { load, submit } = require("./flamenco_contract.js");

// internal/manager + pkg/api/flamenco-openapi.yaml: AvailableJobSetting
const SETTING_KEYS = new Set(["key", "type", "subtype", "choices", "propargs", "description", "default", "eval",
                              "evalInfo", "visible", "required", "editable"]);
const TYPES = new Set(["string", "int32", "float", "bool"]);
const SUBTYPES = new Set(["file_path", "dir_path", "file_name", "hashed_file_path"]);
const VARIABLES = {
    blender: { linux: "/opt/blender/blender", windows: "C:\\Blender\\blender.exe" },
    blenderArgs: { linux: "-b -y", windows: "-b -y" },
    shots: { linux: "/mnt/shots", windows: "S:" },  // a two-way variable
};
const SETTINGS = {
    shot_manifest: "/mnt/shots/reel 1/shots.csv",
    shots: "0-2,7",
    output_dir: "/mnt/shots/vggt out",
    model_source: "/mnt/shots/models/vggt.safetensors",
    device: "cuda",
    frame_options: "--max-frames 40 --fps 4",
    extra_args: "--export-colmap colmap --name=\"hero shot\"",
};

test("JOB_TYPE is a valid AvailableJobType", () => {
    const { JOB_TYPE } = load();
    assert.equal(typeof JOB_TYPE.label, "string");
    const keys = JOB_TYPE.settings.map((s) => s.key);
    assert.equal(new Set(keys).size, keys.length, "setting keys must be unique");
    for (const s of JOB_TYPE.settings) {
        for (const prop of Object.keys(s)) assert.ok(SETTING_KEYS.has(prop), `${s.key}: unknown property ${prop}`);
        assert.ok(TYPES.has(s.type), s.key);
        if (s.subtype !== undefined) assert.ok(s.type === "string" && SUBTYPES.has(s.subtype), s.key);
        if (s.choices !== undefined) {
            assert.ok(s.type === "string" && s.choices.includes(s.default), `${s.key}: default must be a choice`);
        }
    }
    assert.deepEqual(JOB_TYPE.settings.filter((s) => s.required).map((s) => s.key), ["shot_manifest", "shots", "output_dir"]);
});

test("one blender task per shot; {blender} variables and two-way paths expanded per worker platform", () => {
    for (const [worker, exe, root] of [["linux", "/opt/blender/blender", "/mnt/shots"], ["windows", "C:\\Blender\\blender.exe", "S:"]]) {
        const tasks = submit(SETTINGS, { variables: VARIABLES, twoWay: ["shots"], worker });
        assert.deepEqual(tasks.map((t) => [t.name, t.type, t.commands.length]),
            [["shot-0", "blender", 1], ["shot-1", "blender", 1], ["shot-2", "blender", 1], ["shot-7", "blender", 1]]);
        assert.equal(tasks[3].commands[0].name, "blender-render");
        assert.deepEqual(tasks[3].commands[0].argv, [
            exe, "-b", "-y", "-c", "vggt",
            `--manifest=${root}/reel 1/shots.csv`, "--shot-index=7", `--out=${root}/vggt out`,
            "--device=cuda", `--model=${root}/models/vggt.safetensors`,
            "--options=--max-frames 40 --fps 4", "--options=--export-colmap colmap --name=\"hero shot\"",
        ]);
    }
});

test("hostile values reach the command as one argument each, unchanged", () => {
    const hostile = "a $(touch /tmp/x) `id`; * # 'q' \"dq\" é";
    const settings = { shot_manifest: `/s/${hostile}.csv`, shots: "0", output_dir: `/o/${hostile}`,
                       model_source: hostile, frame_options: hostile, extra_args: hostile };
    const argv = submit(settings, { variables: VARIABLES })[0].commands[0].argv;
    assert.deepEqual(argv.slice(5), [`--manifest=/s/${hostile}.csv`, "--shot-index=0", `--out=/o/${hostile}`,
        "--device=auto", `--model=${hostile}`, `--options=${hostile}`, `--options=${hostile}`]);
});

test("missing or invalid settings fail the submission before any task", () => {
    const base = { shot_manifest: "/s.csv", shots: "3", output_dir: "/o" };
    assert.deepEqual(submit(base)[0].commands[0].parameters.args,
        ["--manifest=/s.csv", "--shot-index=3", "--out=/o", "--device=auto", "--model=", "--options=", "--options="]);
    for (const shots of ["", "a-b", "5-2", "1,,2"]) assert.throws(() => submit({ ...base, shots }), /^shots: /, shots);
    assert.throws(() => submit({ ...base, output_dir: " " }), /^output_dir: required/);
    assert.throws(() => submit({ shots: "0", output_dir: "/o" }), /^shot_manifest: required/);
    assert.throws(() => submit({ ...base, device: "tpu" }), /^device: 'tpu' is not one of auto, cuda, mps, cpu/);
    assert.throws(() => submit({ ...base, extra_args: 3 }), /^extra_args: required, a text setting/);
});
