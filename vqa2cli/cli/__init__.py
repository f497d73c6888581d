"""vqa2cli.cli"""
