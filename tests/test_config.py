import pytest

from srgan.config import ConfigError, TrainConfig, load_config, CONFIG_DIR


def test_a_config_saved_with_a_byte_order_mark_loads(tmp_path):
    """Windows editors start UTF-8 files with a BOM: it was "not valid TOML (Invalid statement (at line 1, column 1))"."""
    path = tmp_path / "mine.toml"
    path.write_bytes("\ufeffphase = 'mse'\nsteps = 7\n".encode("utf-8"))
    assert load_config(path).steps == 7


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_bundled_configs_are_valid(path):
    config = load_config(path.stem)
    assert config.scale == 4


def test_the_bundled_configs_are_all_found():  # the parametrization above would otherwise turn into a skip
    assert {p.stem for p in CONFIG_DIR.glob("*.toml")} >= {"paper-srresnet", "paper-srgan-vgg54", "srgan-mse", "smoke"}


def test_paper_values():
    srresnet = load_config("paper-srresnet")
    assert (srresnet.lr, srresnet.batch_size, srresnet.crop_size, srresnet.beta1) == (1e-4, 16, 96, 0.9)
    srgan = load_config("paper-srgan-vgg54")
    assert srgan.content_loss == "vgg54" and srgan.adversarial_weight == 1e-3 and srgan.lr_decay == 0.1


def test_overrides_are_typed():
    config = load_config("smoke", ["lr=2e-4", "steps=7", "compile=true", "train_data=some/dir", "precision=bf16"])
    assert config.lr == 2e-4 and config.steps == 7 and config.compile is True
    assert config.train_data == ["some/dir"] and config.precision == "bf16"
    assert TrainConfig.from_dict(load_config("smoke").to_dict()) == load_config("smoke")
    # a checkpoint's config from before train's eval_data check (eval_data, eval_every 0) still loads: --resume
    # builds it with from_dict, and the review found such runs could no longer be resumed
    saved = {**load_config("smoke").to_dict(), "eval_data": ["/data/Set5"], "eval_every": 0}
    assert TrainConfig.from_dict(saved).eval_data == ["/data/Set5"]
    # and a run saved before crop_size's lower bound (srgan.train checks it for new runs only)
    assert TrainConfig.from_dict({**saved, "crop_size": 8}).crop_size == 8


@pytest.mark.parametrize("override, message", [
    ("lerning_rate=1", "unknown key"),
    ("steps=ten", "'steps' must be int"),
    ("compile=1", "'compile' must be bool"),
    ("lr=-1e-4", "'lr': must be > 0"),
    ("scale=3", "'scale': must be one of"),
    ("crop_size=90", "multiple of scale"),
    ("content_loss=vgg33", "'content_loss'"),
    ("batch_size=0", "'batch_size': must be positive"),
    ("device=cuda:x", "'device': must be one of"),  # torch's "Invalid device string" at the start of training
])
def test_bad_values_are_rejected_before_work(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("smoke", [override])


def test_unknown_keys_name_the_closest():
    """An unknown key listed all 40 keys and no more."""
    with pytest.raises(ConfigError, match=r"unknown key 'stepz' \(did you mean 'steps'\?\); known keys: phase"):
        load_config("smoke", ["stepz=3"])
    with pytest.raises(ConfigError, match=r"unknown key 'learning_rate' \(did you mean 'lr'\?\)"):
        load_config("smoke", ["learning_rate=1e-4"])
    with pytest.raises(ConfigError, match=r"unknown keys 'bach_size' \(did you mean 'batch_size'\?\), 'xyzzy';"):
        TrainConfig.from_dict({**load_config("smoke").to_dict(), "bach_size": 4, "xyzzy": 1})
    # a key given twice: the last wins, as with any repeated option (wrappers append "$@" to their own overrides)
    assert load_config("smoke", ["lr=1e-4", "lr=2e-4"]).lr == 2e-4


def test_gan_phase_needs_a_start():
    with pytest.raises(ConfigError, match="init_from"):
        load_config("srgan-mse", ["init_from="])


def test_missing_config_lists_bundled_ones():
    with pytest.raises(ConfigError, match="paper-srresnet"):
        load_config("nope")


def test_gan_only_keys_in_the_mse_phase_are_refused():
    """They used to be accepted and ignored: lr_decay=0.1 on an SRResNet run trained at a constant lr."""
    with pytest.raises(ConfigError, match="config 'lr_decay': only the gan phase uses it, and phase is 'mse'"):
        load_config("smoke", ["lr_decay=0.1"])
    with pytest.raises(ConfigError, match="'grid_weight', 'label_smoothing': only the gan phase uses them"):
        load_config("smoke", ["label_smoothing=0", "grid_weight=100"])
    with pytest.raises(ConfigError, match="config 'lr_decay', 'lr_decay_step': only"):  # from the file, phase from the line
        load_config("srgan-mse", ["phase=mse", "init_from="])
    assert load_config("srgan-mse", ["init_from=g.safetensors", "grid_weight=100"]).grid_weight == 100
    with pytest.raises(ConfigError, match="config 'd_wins_warn_steps': only the gan phase uses it"):  # no D to win
        load_config("smoke", ["d_wins_warn_steps=5"])


def test_vgg_keys_with_the_mse_content_loss_are_refused():
    """A VGG ablation that forgot content_loss=vgg54 trained N identical runs: the keys were ignored."""
    with pytest.raises(ConfigError, match="config 'vgg_weight', 'vgg_feature_scale': only the VGG content losses "
                                          "use them, and content_loss is 'mse'; remove them or set content_loss="):
        load_config("smoke", ["vgg_weight=1000", "vgg_feature_scale=50"])
    assert load_config("smoke", ["content_loss=vgg54", "vgg_weight=2"]).vgg_weight == 2
    # a vgg54 file's own keys stand when the command line switches it to mse (an ablation of the bundled config)
    assert load_config("paper-srgan-vgg54", ["content_loss=mse", "init_from=g.pt"]).content_loss == "mse"


def test_a_home_folder_in_a_path_is_expanded(monkeypatch, tmp_path):
    """TOML and key=value overrides get no shell: '~/data' was a folder named '~' in the working folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load_config("smoke", ["train_data=['~/a', 'b']", "out_dir=~/runs/x", "val_data=~/val",
                                   "init_from=~/g.safetensors", "vgg_weights=~/vgg.pth", "eval_data=~/Set5",
                                   "content_loss=vgg54"])
    assert config.train_data == [f"{tmp_path}/a", "b"] and config.out_dir == f"{tmp_path}/runs/x"
    assert (config.val_data, config.init_from) == (f"{tmp_path}/val", f"{tmp_path}/g.safetensors")
    assert (config.vgg_weights, config.eval_data) == (f"{tmp_path}/vgg.pth", [f"{tmp_path}/Set5"])
    assert load_config("smoke", ["val_data=pool"]).val_data == "pool"


def test_init_from_a_shipped_name_is_the_shipped_weights(tmp_path, monkeypatch):
    """init_from=srresnet was "no such file" outside the checkout root (TRAINING.md named the file's path). The
    name stays in the config (an absolute install path there refused a resume from another install)."""
    from srgan.config import init_weights, real_folders
    from srgan.shipped import weights_file

    monkeypatch.chdir(tmp_path)
    config = load_config("srgan-mse", ["init_from=srresnet"])
    assert config.init_from == "srresnet" and init_weights(config.init_from) == str(weights_file("srresnet"))
    assert real_folders("init_from", "srresnet") == ["srresnet"]  # compared on --resume as the name
    from srgan.runstart import _same_setting  # ... and as the weights it names: the name and the path agree

    assert _same_setting("init_from", "srresnet", str(weights_file("srresnet")))
    assert not _same_setting("init_from", "srresnet", "srgan")
    (tmp_path / "srgan").mkdir()  # the checkout root has the package folder called srgan
    assert init_weights("srgan") == str(weights_file("srgan"))
    (tmp_path / "srresnet").write_bytes(b"")  # a file of that name here is what it names
    assert init_weights("srresnet") == "srresnet" and init_weights("runs/x/last.pt") == "runs/x/last.pt"
