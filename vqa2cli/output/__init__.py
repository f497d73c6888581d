"""vqa2cli.output"""
